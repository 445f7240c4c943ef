from bnnas.report.rows import control_method, control_space


def test_control_method_names_its_space_and_reads_back():
    assert control_method("ubnas") == "random-equal-ops (ubnas space)"
    assert control_space(control_method("bars")) == "bars"


def test_other_methods_are_not_controls():
    for method in ("mots", "hand-made", "random", "random-equal-ops", "published"):
        assert control_space(method) is None
