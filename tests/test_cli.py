"""The `hfvid` console script: quickstart end to end (few steps), methods, env, bad method names."""

import pytest

from hfvid.cli import main
from hfvid.quickstart import format_table, run_quickstart


def test_quickstart_runs_every_stage(tmp_path):
    rows = run_quickstart(["subpixel_fan"], str(tmp_path), steps=3)
    assert [row.method for row in rows] == ["subpixel_fan"] and rows[0].steps == 3
    assert rows[0].metric.startswith("NME") and (tmp_path / "subpixel_fan" / "README.md").is_file()
    assert "subpixel_fan" in format_table(rows)


def test_methods_and_env_commands(capsys):
    assert main(["methods"]) == 0 and "hfvid-facial-landmarks" in capsys.readouterr().out
    assert main(["env"]) == 0 and "transformers" in capsys.readouterr().out


def test_unknown_method_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="unknown methods"):
        run_quickstart(["no_such_method"], str(tmp_path))
