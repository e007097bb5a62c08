"""The `agentflow` command line: help, argument errors, one-line failures; and its progress bar."""

import io
import subprocess
import sys

import pytest

from engine.sdk.progress import ProgressBar, format_duration
from serve_app.cli import main
from tests.conftest import free_port

SUBCOMMANDS = {
    "submit": "POST /api/files",
    "status": "GET /api/batches/ID",
    "cancel": "POST /api/batches/ID/cancel",
    "output": "item order",
    "bench": "benchmarks/throughput.py",
    "serve": "AGENTFLOW_HOST:AGENTFLOW_PORT",
}


def help_text(capsys, *argv) -> str:
    with pytest.raises(SystemExit) as exited:
        main([*argv, "--help"])
    assert exited.value.code == 0
    return " ".join(capsys.readouterr().out.split())  # argparse wraps lines


def test_top_level_help_lists_every_command(capsys):
    text = help_text(capsys)
    for name in [*SUBCOMMANDS, "simulator"]:
        assert name in text


@pytest.mark.parametrize("command", sorted(SUBCOMMANDS))
def test_each_subcommand_says_what_it_does(capsys, command):
    text = help_text(capsys, command)
    assert f"usage: agentflow {command}" in text and SUBCOMMANDS[command] in text
    if command in ("submit", "status", "cancel", "output"):
        assert "--url" in text and "AGENTFLOW_URL" in text and "--api-key" in text


def test_simulator_help_is_the_simulators_own(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["simulator", "--help"])
    assert exited.value.code == 0 and "--rpm" in capsys.readouterr().out


def test_missing_file_is_one_line_and_exit_1(capsys, tmp_path):
    code = main(["submit", str(tmp_path / "nope.csv"), "--operation", "label", "--categories", "a,b"])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1
    assert err.startswith("agentflow: error: no such file") and "nope.csv" in err


def test_unreachable_service_is_one_line_and_exit_1(capsys):
    url = f"http://127.0.0.1:{free_port()}"
    code = main(["status", "batch_abcdefghijkl", "--url", url])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and f"cannot reach the AgentFlow service at {url}" in err


def test_bad_arguments_are_usage_errors(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["status", "batch_abcdefghijkl", "--bogus"])
    assert exited.value.code == 2 and "unrecognized arguments: --bogus" in capsys.readouterr().err
    code = main(["submit", __file__, "--operation", "label", "--param", "novalue", "--url", "http://127.0.0.1:1"])
    assert code == 1 and "agentflow: error: --param takes NAME=VALUE" in capsys.readouterr().err
    # Refused before anything is sent (port 1: nothing listens there, so sending would be another error).
    code = main(["submit", __file__, "--operation", "label", "--output", "res.txt", "--url", "http://127.0.0.1:1"])
    assert code == 1 and "cannot tell the format of 'res.txt'" in capsys.readouterr().err


def test_the_console_entry_point_prints_no_traceback(tmp_path):
    run = subprocess.run([sys.executable, "-m", "serve_app.cli", "output", "batch_abcdefghijkl", "--url",
                          f"http://127.0.0.1:{free_port()}"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 1 and "Traceback" not in run.stderr and run.stderr.count("\n") == 1


def test_progress_bar_lines_rate_and_eta():
    now = [0.0]
    stream = io.StringIO()  # not a terminal: whole lines, at most one per log_every seconds
    bar = ProgressBar(500, label="batch_x", stream=stream, clock=lambda: now[0], log_every=10)
    for done in (0, 100, 200, 300, 500):
        bar.update(done)
        now[0] += 6
    bar.close()
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("batch_x  [....") and "0/500" in lines[0] and "ETA ?" in lines[0]
    assert "200/500" in lines[1] and "16.7 items/s" in lines[1] and "ETA 0:00:18" in lines[1]
    assert lines[-1].endswith("500/500  100.0%  20.8 items/s  ETA 0:00:00")
    assert len(lines) == 3  # close() does not repeat the last line
    assert format_duration(3725) == "1:02:05" and format_duration(None) == "?"
