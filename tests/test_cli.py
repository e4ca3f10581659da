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


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert err.startswith("hfvid: error: ")
    return err


def test_user_errors_print_one_line_and_exit_2(tmp_path, capsys):
    """Issue 15: bad arguments are one `hfvid: error:` line on stderr and status 2, never a traceback."""
    import torch

    assert main(["quickstart", "--methods", "nonexistent", "--output_dir", str(tmp_path)]) == 2
    assert "unknown methods ['nonexistent']" in _one_error_line(capsys)

    missing = tmp_path / "nope.pth"
    assert main(["convert", "face-alignment", "--checkpoint_path", str(missing), "--output_dir", str(tmp_path)]) == 2
    assert "--checkpoint_path" in (line := _one_error_line(capsys)) and "nope.pth" in line

    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(bytes(range(256)) * 4)
    empty = tmp_path / "empty.pth"
    empty.write_bytes(b"")
    torch.save({"weight": torch.zeros(2)}, tmp_path / "good.pth")
    damaged = tmp_path / "damaged.pth"
    damaged.write_bytes((tmp_path / "good.pth").read_bytes()[:200])
    for source in ("face-alignment", "torchvision-mvit"):
        for path, fragment in ((garbage, "not a PyTorch state-dict file"), (empty, "not a readable checkpoint"),
                               (damaged, "damaged PyTorch file"), (tmp_path / "good.pth", "state dict")):
            code = main(["convert", source, "--checkpoint_path", str(path), "--output_dir", str(tmp_path / "out")])
            assert code == 2 and fragment in _one_error_line(capsys), (source, path)

    assert main(["export", "--method", "subpixel_fan", "--model", str(tmp_path / "none"), "--output",
                 str(tmp_path / "x")]) == 2
    assert "no such folder" in _one_error_line(capsys)
    with pytest.raises(SystemExit) as exit_info:  # argparse's own errors use the same status
        main(["quickstart", "--steps", "0"])
    assert exit_info.value.code == 2


def test_bugs_keep_their_traceback(monkeypatch, tmp_path):
    import hfvid.quickstart

    def broken(*args, **kwargs):
        raise TypeError("a bug, not a user error")

    monkeypatch.setattr(hfvid.quickstart, "run_quickstart", broken)
    with pytest.raises(TypeError, match="a bug"):
        main(["quickstart", "--output_dir", str(tmp_path)])
    monkeypatch.undo()
    monkeypatch.setenv("HFVID_DEBUG", "1")  # user errors too, on request
    with pytest.raises(ValueError, match="unknown methods"):
        main(["quickstart", "--methods", "nonexistent", "--output_dir", str(tmp_path)])


def test_console_script_exit_status(tmp_path):
    import os
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "hfvid.cli", "quickstart", "--methods", "nonexistent",
                             "--output_dir", str(tmp_path)], capture_output=True, text=True, timeout=300,
                            env=dict(os.environ, HF_HUB_OFFLINE="1"))
    assert result.returncode == 2 and result.stderr.startswith("hfvid: error: unknown methods")
    assert "Traceback" not in result.stderr
