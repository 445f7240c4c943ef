"""``study.plan``: overrides per search, the order of a study's steps."""

from study.plan import comma_list, plan_steps, search_overrides


def test_search_overrides_for_every_search_or_one_method():
    given = ["epochs=3", "bars:data.limit=16000", "ubnas:epochs=5", "space.op=a:b"]
    assert search_overrides(given, "bars") == ["epochs=3", "data.limit=16000", "space.op=a:b"]
    assert search_overrides(given, "mots") == ["epochs=3", "space.op=a:b"]


def test_comma_lists_drop_blanks():
    assert comma_list(" mots, ubnas,,") == ["mots", "ubnas"]
    assert comma_list("") == []


def test_a_cheap_baseline_runs_before_searches_and_an_expensive_one_after(tmp_path):
    steps = plan_steps(tmp_path, ["ubnas"], ["bresnet_small", "birealnet18"], [0], 7)
    order = [s.label for s in sorted(steps, key=lambda s: s.priority)]
    assert order[0] == "bresnet_small-seed0/train"
    assert order.index("ubnas-seed0/search") < order.index("birealnet18-seed0/train")
    retrain = next(s for s in steps if s.label == "ubnas-seed0/train")
    assert retrain.needs == tmp_path / "ubnas-seed0" / "search"
