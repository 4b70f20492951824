"""A run's per-step hooks called directly (plugin/direct_calls.py) answer exactly as pluggy does.

Every plugin that implements a per-step hook is still called for every step, in pluggy's
order, with pluggy's arguments; firstresult, exceptions, wrappers, tracing and plugins
registered while a run runs behave as they did when every call went through pluggy.
"""

from __future__ import annotations

import json

import pluggy
import pytest

from orchestrator_core import hookimpl
from orchestrator_core.plugin.direct_calls import DirectHooks, idle_implementations
from orchestrator_core.plugin.hooks import Hooks
from orchestrator_core.plugin.manager import create_plugin_manager

# A chain on the runner's thread, then a fan on the thread executor (queued ahead), then its sink.
RECIPE = """
steps:
  - {name: a, uses: noop}
  - {name: b, uses: noop, depends_on: [a]}
  - {name: c, uses: write_keys, depends_on: [b], params: {values: {t.c_v1: 1}}, parallelizable: false}
""" + "".join(f"  - {{name: f{i}, uses: write_keys, depends_on: [c], params: {{values: {{t.f{i}_v1: {i}}}}}}}\n"
              for i in range(12)) + "  - {name: z, uses: noop, depends_on: [" + ", ".join(
    f"f{i}" for i in range(12)) + "]}\n"
STEPS = ["a", "b", "c", *(f"f{i}" for i in range(12)), "z"]


class Watcher:
    """Notes every per-step hook call it receives."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str | None]] = []

    @hookimpl
    def orch_external_writes(self, run):
        self.calls.append(("external_writes", None))

    @hookimpl
    def orch_before_step(self, step):
        self.calls.append(("before", step.name))

    @hookimpl
    def orch_record_steps(self, finished):
        self.calls.append(("record", ",".join(step.name for step, _, _ in finished)))

    @hookimpl
    def orch_after_step(self, run, step, result):
        self.calls.append(("after", step.name))


def through_pluggy(monkeypatch) -> None:
    """Every hook call of the runs that follow goes through pluggy, as before direct calls."""
    monkeypatch.setattr(Hooks, "for_run", lambda self, run: self)


def started_before_finished(calls: list[tuple[str, str | None]]) -> None:
    for name in STEPS:
        assert calls.count(("before", name)) == 1 and calls.count(("after", name)) == 1, name
        assert calls.index(("before", name)) < calls.index(("after", name)), name


@pytest.mark.orch_builtins_only
def test_an_in_process_plugin_sees_every_step_as_through_pluggy(sample_pm, register_plugin, run_orch_recipe,
                                                                monkeypatch):
    watcher = register_plugin(Watcher(), "watcher")
    direct = run_orch_recipe(RECIPE, config={"workers": 3})
    assert direct.error is None
    seen_direct, watcher.calls = watcher.calls, []
    through_pluggy(monkeypatch)
    pluggy_run = run_orch_recipe(RECIPE, config={"workers": 3})
    assert pluggy_run.error is None
    seen_pluggy = watcher.calls

    started_before_finished(seen_direct)
    started_before_finished(seen_pluggy)
    # the serial chain comes out call for call the same (the fan's order depends on its threads)
    chain = seen_direct[:seen_direct.index(("before", "f0"))] if ("before", "f0") in seen_direct else []
    assert chain and chain == seen_pluggy[:len(chain)]
    assert chain[:2] == [("external_writes", None), ("before", "a")]
    for kind in ("before", "after"):
        assert sum(c[0] == kind for c in seen_direct) == sum(c[0] == kind for c in seen_pluggy) == len(STEPS)
    for seen in (seen_direct, seen_pluggy):  # a pull before each group of steps started together (one
        pulls = sum(c[0] == "external_writes" for c in seen)  # step of the chain; the fan's steps as its
        assert 3 + 1 <= pulls <= len(STEPS) + 1  # threads take them), and the last one
    assert seen_direct[-1] == ("external_writes", None)
    recorded = [name for kind, names in seen_direct if kind == "record" for name in names.split(",")]
    assert sorted(recorded) == sorted(STEPS)
    assert [line["step"] for line in direct.lines] == STEPS == [line["step"] for line in pluggy_run.lines]


def test_order_and_firstresult_are_pluggys():
    pm = create_plugin_manager(load_entrypoints=False)
    order: list[str] = []

    def plugin(label: str, key: str | None, **opts):
        class Plugin:
            @hookimpl(**opts)
            def orch_before_step(self, step):
                order.append(label)

            @hookimpl(**opts)
            def orch_cache_key(self, step, inputs):
                order.append(f"key:{label}")
                return key

        return Plugin()

    for label, key, opts in (("last", "k-last", {"trylast": True}), ("plain-1", None, {}),
                              ("first", None, {"tryfirst": True}), ("plain-2", "k-plain-2", {})):
        pm.register(plugin(label, key, **opts), name=label)
    direct = DirectHooks(pm)
    assert not isinstance(direct.orch_before_step, pluggy.HookCaller)

    pm.hook.orch_before_step(run=None, step=None)
    expected, order[:] = list(order), []
    direct.orch_before_step(run=None, step=None)
    assert order == expected == ["first", "plain-2", "plain-1", "last"]

    order[:] = []
    assert direct.orch_cache_key(step=None, inputs={}, run=None) == "k-plain-2"
    assert order == ["key:first", "key:plain-2"], "a firstresult hook stops at the first answer"
    order[:] = []
    assert pm.hook.orch_cache_key(step=None, inputs={}, run=None) == "k-plain-2"
    assert order == ["key:first", "key:plain-2"]


def test_an_exception_propagates_and_the_later_implementations_are_not_called():
    pm = create_plugin_manager(load_entrypoints=False)
    called: list[str] = []

    class Raises:
        @hookimpl(tryfirst=True)
        def orch_after_step(self, step):
            raise LookupError("from the plugin")

    class Later:
        @hookimpl
        def orch_after_step(self, step):
            called.append("later")

    pm.register(Later(), name="later")
    pm.register(Raises(), name="raises")
    with pytest.raises(LookupError, match="from the plugin"):
        DirectHooks(pm).orch_after_step(run=None, step=None, result=None)
    assert called == []


def test_wrappers_and_tracing_go_through_pluggy():
    pm = create_plugin_manager(load_entrypoints=False)
    wrapped: list[str] = []

    class Wrapper:
        @hookimpl(wrapper=True)
        def orch_before_step(self, step):
            wrapped.append("in")
            result = yield
            wrapped.append("out")
            return result

    pm.register(Wrapper(), name="wrapper")
    direct = DirectHooks(pm)
    assert isinstance(direct.orch_before_step, pluggy.HookCaller)
    direct.orch_before_step(run=None, step=None)
    assert wrapped == ["in", "out"]

    traced: list[str] = []
    pm = create_plugin_manager(load_entrypoints=False)
    plain = DirectHooks(pm)  # built while nobody traces: orch_before_step is called directly
    assert not isinstance(plain.orch_before_step, pluggy.HookCaller)
    undo = pm.add_hookcall_monitoring(lambda name, impls, kwargs: traced.append(name), lambda *args: None)
    try:
        plain.orch_before_step(run=None, step=None)  # tracing began since: pluggy's call
        assert isinstance(DirectHooks(pm).orch_before_step, pluggy.HookCaller)
    finally:
        undo()
    assert traced == ["orch_before_step"]


def test_a_plugin_registered_during_a_run_is_called_from_then_on(sample_pm, register_plugin, run_orch_recipe,
                                                                 monkeypatch):
    def run_once() -> list[str]:
        late_seen: list[str] = []

        class Late:
            @hookimpl
            def orch_after_step(self, step):
                late_seen.append(step.name)

        late = Late()

        class Registers:
            @hookimpl
            def orch_before_step(self, step):
                if step.name == "b":
                    sample_pm.register(late, name="late")

        register_plugin(Registers(), "registers")
        try:
            outcome = run_orch_recipe("""
            steps:
              - {name: a, uses: noop}
              - {name: b, uses: noop, depends_on: [a]}
              - {name: c, uses: noop, depends_on: [b]}
            """)
        finally:
            sample_pm.unregister(name="registers")
            if sample_pm.is_registered(late):
                sample_pm.unregister(late)
        assert outcome.error is None
        return late_seen

    direct = run_once()
    through_pluggy(monkeypatch)
    # a's report may come after b started (group commit): whatever pluggy does, the direct call does
    assert direct == run_once() and direct[-2:] == ["b", "c"]


@pytest.mark.orch_builtins_only
def test_only_builtins_idle_for_the_run_are_left_out(sample_pm, register_plugin, run_orch_recipe, tmp_path,
                                                     monkeypatch):
    class SaysIdle:
        """Not a built-in: its word is not taken, every step still reaches it."""

        def __init__(self) -> None:
            self.seen: list[str] = []

        def idle_hooks(self, run):
            return {"orch_after_step"}

        @hookimpl
        def orch_after_step(self, step):
            self.seen.append(step.name)

    says_idle = SaysIdle()
    register_plugin(says_idle, "says_idle")
    asked: list[dict] = []
    original = idle_implementations

    def spy(pm, run):
        found = original(pm, run)
        asked.append({name: found.get(id(pm.get_plugin(name)), frozenset()) for name in ("progress", "events",
                                                                                        "says_idle")})
        return found

    monkeypatch.setattr("orchestrator_core.plugin.direct_calls.idle_implementations", spy)
    events = tmp_path / "events.jsonl"
    quiet = run_orch_recipe("steps: [{name: a, uses: noop}, {name: b, uses: noop, depends_on: [a]}]")
    logged = run_orch_recipe("steps: [{name: a, uses: noop}, {name: b, uses: noop, depends_on: [a]}]",
                             config={"events_path": events})
    assert quiet.error is None and logged.error is None
    assert says_idle.seen == ["a", "b", "a", "b"]
    assert asked[0]["progress"] >= {"orch_before_step", "orch_after_step", "orch_on_step_error"}
    assert "orch_after_step" in asked[0]["events"] and asked[0]["says_idle"] == frozenset()
    assert asked[1]["events"] == frozenset(), "with --events the events file hears of every step"
    names = [json.loads(line).get("step") for line in events.read_text().splitlines()]
    assert names.count("a") == 2 and names.count("b") == 2  # each step's start and finish


ENTRY_POINT_PLUGIN = {"step_watch/__init__.py": """
    import os

    from orchestrator_core import hookimpl

    def _note(text):
        with open(os.environ["STEP_WATCH_FILE"], "a") as out:
            out.write(text + "\\n")

    @hookimpl
    def orch_before_step(step):
        _note("before " + step.name)

    @hookimpl
    def orch_after_step(step, result):
        _note("after " + step.name)

    @hookimpl(tryfirst=True)
    def orch_cache_get(key, step):
        _note("cache_get " + step.name)
"""}


def test_an_installed_plugin_sees_every_step_of_a_real_run(orch_cli, make_pack, sample_pack_path, tmp_path):
    pack = make_pack("orch-step-watch", ENTRY_POINT_PLUGIN, {"step_watch": "step_watch"})
    notes = tmp_path / "notes.txt"
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(RECIPE.replace("{name: b, uses: noop, depends_on: [a]}",
                                     "{name: b, uses: noop, depends_on: [a], cache: true}"))
    env = {"STEP_WATCH_FILE": str(notes)}
    for _ in range(2):  # the second run: b is a cache hit, announced and reported as one
        notes.write_text("")
        outcome = orch_cli("run", str(recipe), "--no-progress", "--workers", "3",
                           pythonpath=[pack, sample_pack_path], env=env)
        assert outcome.exit_code == 0, outcome.err
        lines = outcome.lines
        assert [line["step"] for line in lines] == STEPS
        calls = [tuple(line.split(" ", 1)) for line in notes.read_text().splitlines()]
        started_before_finished(calls)
        assert calls.count(("cache_get", "b")) == 1 and calls.count(("cache_get", "a")) == 0
        assert calls.index(("before", "a")) < calls.index(("cache_get", "b")) < calls.index(("before", "b"))
    assert lines[1]["cache"] == "hit"


def test_heard_follows_the_plugins_of_the_run():
    """The runner skips telling a queued step's start only while no implementation would hear it."""
    pm = create_plugin_manager(load_entrypoints=False, blocked=("state",))
    hooks = Hooks(pm).for_run(None)  # progress and events are off until a run turns them on
    assert not hooks.heard("orch_before_step") and hooks.heard("orch_after_step")
    assert hooks.impls("orch_before_step") == pm.hook.orch_before_step.get_hookimpls()
    assert Hooks(pm).heard("orch_before_step"), "hooks not bound to a run always call"

    class Listens:
        @hookimpl
        def orch_before_step(self, step):
            pass

    pm.register(Listens(), name="listens")
    assert hooks.heard("orch_before_step"), "a plugin registered during the run is heard at once"
