"""The backlog's printed tables and its chart."""

from __future__ import annotations

import re
from pathlib import Path

from bench.backlog import measure_backlog
from bench.backlog_report import BacklogRow, header, render
from bench.chart import Panel, Point, draw
from bench.regimes import BacklogRegime
from tests.bench.helpers import operation, stats

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def rows() -> list[BacklogRow]:
    """Two contenders: one that saw every job, one that gave up on one."""
    # One job per 10 s window (speed 10), 4 minutes of audio processed in 4 s (40 service
    # s, the documented pace), seen 1 s late.
    seen_all = [
        operation(w * 10.0, w * 10.0 + 0.2, w * 10.0 + 4.2, w * 10.0 + 5.2, audio_s=240.0)
        for w in range(3)
    ]
    gave_up = [*seen_all[:2], operation(20.0, 20.2, 24.2, None, audio_s=240.0)]
    return [
        BacklogRow(
            "orchestrator",
            "speechkit-orchestrator",
            measure_backlog(stats(seen_all, submit_quota=1), 3),
            120 * 1024,
            95.4,
        ),
        BacklogRow(
            "speechkitty",
            "SpeechKitty (audio/6, 10x3 s)",
            measure_backlog(stats(gave_up, submit_quota=1), 3),
            None,
            None,
            problem="stopped after 900 s",
        ),
    ]


def cells(text: str, label: str) -> list[str]:
    """The cells of the first table line that starts with ``label``."""
    line = next(line for line in text.splitlines() if line.startswith(label))
    return re.split(r"\s{2,}", line.strip())


def test_each_ratio_gets_a_table_with_every_figure() -> None:
    regime = BacklogRegime()
    head = header(regime, 1, "silent Ogg Opus files (mono)", 64.6, serial=False)
    text = render(head, regime, [(5.0, rows()), (1.5, rows())], ["a note"])
    assert "175 silent Ogg Opus files" in text
    assert "36 s wall" in text
    assert "the orchestrator ran alone, then the baselines side by side" in text
    assert text.count("contender  ") == 2
    assert "5:1 (50 submissions, 250 status checks per window" in text
    assert "1.5:1 (50 submissions, 75 status checks per window" in text
    assert cells(text, "speechkit-orchestrator") == [
        "speechkit-orchestrator",
        "100%",  # the one steady window was full
        "0.07 h",  # 252 service s
        "1.05x",  # over 2 windows + 4 s
        "1.00",
        "10.0 s",
        "10.0 s",
        "25%",  # 1 s late on 4 s of processing
        "25%",
        "0",
        "0",
        "95.4 ms",
        "120 MiB",
    ]
    theirs = cells(text, "SpeechKitty")
    assert theirs[0] == "SpeechKitty (audio/6, 10x3 s) (!)"  # its run is flagged
    assert theirs[2:4] == ["-", "-"]  # no makespan: a job was never seen done
    assert theirs[10:] == ["1", "-", "-"]  # gave up on one; CPU and RSS unmeasured
    assert "SpeechKitty (audio/6, 10x3 s): stopped after 900 s" in text
    assert "(~)" not in text  # the emulator kept time
    assert text.rstrip().endswith("a note")


def test_the_header_says_when_every_contender_ran_alone() -> None:
    head = header(BacklogRegime(), 1, "files", 1.0, serial=True)
    assert any("every contender ran alone" in line for line in head)


def test_the_chart_is_a_png_with_a_panel_per_ratio(tmp_path: Path) -> None:
    panels = [
        Panel(
            ratio=ratio,
            budget=ratio,
            points=(
                Point("speechkit-orchestrator", 1.02, 0.31, ours=True),
                Point("docs sample (1 s)", 5.8, 11.6),
                Point("never seen", 0.0, None, note="gave up on 3"),
            ),
        )
        for ratio in (5.0, 1.5)
    ]
    path = draw(panels, "test", tmp_path / "deep" / "chart.png")
    assert path.read_bytes().startswith(PNG_MAGIC)


def test_a_run_whose_emulator_ran_late_is_pointed_out() -> None:
    # A minute of audio processed in 15 service s instead of 10: the emulator ran 50% slow.
    late = [operation(w * 10.0, w * 10.0, w * 10.0 + 1.5, w * 10.0 + 2.0) for w in range(3)]
    row = BacklogRow("docs", "docs sample (1 s)", measure_backlog(stats(late), 3), None, None)
    text = render([], BacklogRegime(), [(5.0, [row])])
    assert "(~) the emulator's processing ran slow" in text
    assert "docs sample (1 s) 50%" in text
