"""Packs coexist: a second installed pack registers ``load_numbers`` too.

Each pack's own recipes keep running with its own scriptlet; a recipe of the user's that
names ``load_numbers`` bare is an error naming both packs and the ``plugin:name``
spellings, and with those spellings it runs; other recipes do not hear of the clash.
"""

from __future__ import annotations

import json

import pytest

OTHER = {
    "weather_pack/__init__.py": '''
        from pathlib import Path

        from orchestrator_core import BaseScriptlet, hookimpl


        class LoadNumbers(BaseScriptlet):
            """Station readings, by the same name as the curriculum's scriptlet."""

            name = "load_numbers"
            outputs = ("weather.readings_v1",)

            def run(self, ctx, params):
                ctx.set("weather.readings_v1", [11.5, 12.0])


        @hookimpl
        def orch_register_scriptlets():
            return [LoadNumbers]


        @hookimpl
        def orch_register_recipe_dirs():
            return [Path(__file__).parent / "recipes"]
    ''',
    "weather_pack/recipes/weather_readings.yaml": '''
        name: weather_readings
        steps:
          - name: read
            uses: load_numbers
    ''',
}

BARE = """\
name: mine
steps:
  - name: first
    uses: load_numbers
"""

QUALIFIED = """\
name: mine
steps:
  - name: numbers
    uses: curriculum:load_numbers
  - name: readings
    uses: meteo:load_numbers
"""


@pytest.fixture
def weather(make_pack):
    return make_pack("orch-weather", OTHER, {"meteo": "weather_pack"})


def test_two_packs_registering_load_numbers_coexist(orch_cli, weather, tmp_path):
    own = orch_cli("run", "01_basic_number", "--no-progress", pythonpath=[weather])
    assert own.exit_code == 0, own.err
    assert own.lines[0]["outputs"] == ["numbers.raw_v1"] and "ambiguous" not in own.err

    theirs = orch_cli("run", "weather_readings", "--no-progress", pythonpath=[weather])
    assert theirs.exit_code == 0, theirs.err
    assert theirs.lines[0]["outputs"] == ["weather.readings_v1"]

    (tmp_path / "bare.yaml").write_text(BARE)
    bare = orch_cli("run", "bare.yaml", "--no-progress", pythonpath=[weather])
    assert bare.exit_code == 2 and bare.out == ""
    assert "bare.yaml:4: scriptlet 'load_numbers' is ambiguous" in bare.err
    assert "orchestrator-curriculum (plugin 'curriculum')" in bare.err and "orch-weather (plugin 'meteo')" in bare.err
    assert "'curriculum:load_numbers'" in bare.err and "'meteo:load_numbers'" in bare.err

    (tmp_path / "qualified.yaml").write_text(QUALIFIED)
    qualified = orch_cli("run", "qualified.yaml", "--no-progress", pythonpath=[weather])
    assert qualified.exit_code == 0, qualified.err
    assert [line["outputs"] for line in qualified.lines] == [["numbers.raw_v1"], ["weather.readings_v1"]]

    listed = json.loads(orch_cli("steps", "list", "--json", pythonpath=[weather]).assert_success().out)
    names = {row["qualified"]: row for row in listed if row["type"] == "python"}
    assert names["curriculum:load_numbers"]["pack"] == "orchestrator-curriculum"
    assert names["meteo:load_numbers"]["pack"] == "orch-weather"
    table = orch_cli("steps", "list", pythonpath=[weather]).assert_success()
    first_column = [line.split()[0] for line in table.out.splitlines()[1:]]
    assert {"curriculum:load_numbers", "meteo:load_numbers", "curriculum:compute_mean"} <= set(first_column)
    assert "load_numbers" not in first_column  # every scriptlet by its qualified name, which always works
    assert "ambiguous" not in table.err and "registered twice" not in table.err


def test_a_qualified_name_that_does_not_exist_says_what_the_plugin_has(orch_cli, tmp_path):
    (tmp_path / "typo.yaml").write_text("steps:\n  - {name: a, uses: 'curriculum:load_numbrs'}\n"
                                        "  - {name: b, uses: 'curiculum:load_numbers'}\n")
    outcome = orch_cli("validate", "typo.yaml")
    assert outcome.exit_code == 2
    assert ("typo.yaml:2: unknown scriptlet 'curriculum:load_numbrs': plugin 'curriculum' registers no "
            "'load_numbrs' (did you mean 'load_numbers'?)") in outcome.err
    assert "typo.yaml:3: unknown scriptlet 'curiculum:load_numbers': no plugin 'curiculum' registers a " \
           "scriptlet (did you mean 'curriculum'?)" in outcome.err
