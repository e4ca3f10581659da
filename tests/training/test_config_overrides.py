"""--config_overrides parsing shared by the training scripts."""

import pytest

from hfvid.training import parse_config_overrides


def test_values_are_json_or_strings_and_lists_keep_their_commas():
    parsed = parse_config_overrides("num_stacks=1, norm_type=group,flip_permutation=[1,0,2],sigma=1.5,flag=true")
    assert parsed == {"num_stacks": 1, "norm_type": "group", "flip_permutation": [1, 0, 2], "sigma": 1.5,
                      "flag": True}
    assert parse_config_overrides(None) == {} and parse_config_overrides("") == {}


def test_item_without_equals_is_a_clear_error():
    with pytest.raises(ValueError, match="key=value"):
        parse_config_overrides("num_stacks")
