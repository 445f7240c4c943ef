"""Running the command line in a test and checking its user errors (shared by the CLI tests).

A user error must end with exit code 2 and exactly one ``bnnas: error:`` line, the last on
stderr, with no traceback; ``alone=True`` also requires that line to be all of stderr.
"""

from bnnas.cli import main


def run_cli(capsys, *argv):
    """``(exit code, stdout, stderr)`` of ``bnnas ARGV`` (arguments turned into strings)."""
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_user_error(code, err, *fragments, alone=False):
    """Exit 2, one error line (the last on stderr) holding every fragment, no traceback."""
    assert code == 2, err
    lines = err.strip().splitlines()
    errors = [line for line in lines if line.startswith("bnnas: error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], err
    assert not alone or len(lines) == 1, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in errors[0], errors[0]
