"""The regimes' parameters and the command line that sets them."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.options import RESULTS, options
from bench.regimes import BacklogRegime, DefaultRegime, ratio_label


def test_the_backlog_is_three_and_a_half_windows_of_fifty_submissions() -> None:
    regime = BacklogRegime()
    assert regime.jobs == 175
    assert regime.window_wall_s == pytest.approx(36.0)
    assert [regime.status_quota(r) for r in regime.ratios] == [250, 75]
    assert [ratio_label(r) for r in regime.ratios] == ["5:1", "1.5:1"]


def test_the_daemon_and_the_emulator_get_the_same_quotas() -> None:
    regime = BacklogRegime()
    quotas = regime.quotas(1.5)
    knobs = regime.knobs(1.5)
    assert (quotas.submissions, quotas.status_checks) == (knobs.submit_quota, knobs.status_quota)
    assert knobs.args() == [
        "--submit-quota",
        "50",
        "--status-quota",
        "75",
        "--quota-window",
        "36.0",
        "--processing-noise",
        "0.25",
        "--max-concurrent",
        "20",
    ]


@pytest.mark.parametrize(
    "fields",
    [
        {"speed": 0.0},
        {"submit_quota": 0},
        {"ratios": ()},
        {"ratios": (5.0, -1.0)},
        {"depth": 0.0},
        {"min_s": 10.0, "max_s": 5.0},
        {"max_concurrent": 0},
    ],
)
def test_a_backlog_that_makes_no_sense_is_refused(fields: dict[str, object]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each field has its own message
        BacklogRegime(**fields)  # type: ignore[arg-type]


def test_by_default_both_regimes_run_with_every_contender() -> None:
    opts = options([])
    assert opts.default is not None
    assert opts.backlog is not None
    assert opts.default.regime == DefaultRegime()
    assert opts.default.only == ("orchestrator", "docs", "ai-studio-sdk", "community", "google")
    assert opts.backlog.regime == BacklogRegime()
    assert opts.backlog.only == (
        "orchestrator",
        "docs",
        "ai-studio-sdk",
        "speechkitty",
        "azure",
        "serverless",
    )
    assert opts.backlog.json_path == RESULTS / "backlog.json"
    assert opts.backlog.chart_paths == (RESULTS / "backlog.png",)
    assert not opts.backlog.serial


def test_one_regime_can_run_alone_and_quick() -> None:
    opts = options(["--regime", "backlog", "--quick"])
    assert opts.default is None
    assert opts.backlog is not None
    assert opts.backlog.regime == BacklogRegime.quick()
    opts = options(["--regime", "default", "--quick"])
    assert opts.backlog is None
    assert opts.default is not None
    assert opts.default.regime == DefaultRegime.quick()


def test_options_given_explicitly_win_over_quick() -> None:
    opts = options(["--quick", "--jobs", "20", "--backlog-ratios", "2", "--backlog-speed", "50"])
    assert opts.default is not None
    assert opts.default.regime.jobs == 20
    assert opts.default.regime.max_s == DefaultRegime.quick().max_s
    assert opts.backlog is not None
    assert opts.backlog.regime.ratios == (2.0,)
    assert opts.backlog.regime.speed == 50.0
    assert opts.backlog.regime.submit_quota == BacklogRegime.quick().submit_quota


def test_the_default_regime_can_give_each_operation_an_overhead() -> None:
    opts = options(["--regime", "default", "--overhead", "8", "--min-duration", "2"])
    assert opts.default is not None
    assert (opts.default.regime.overhead_s, opts.default.regime.min_s) == (8.0, 2.0)
    assert opts.default.regime.knobs().args() == ["--processing-overhead-s", "8.0"]
    # Without it the emulator keeps its own default (no option is passed).
    assert DefaultRegime().knobs().args() == []
    opts = options(["--regime", "backlog", "--backlog-overhead", "30"])
    assert opts.backlog is not None
    assert "--processing-overhead-s" in opts.backlog.regime.knobs(5.0).args()
    assert "--processing-overhead-s" not in BacklogRegime().knobs(5.0).args()


def test_only_picks_each_regimes_own_contenders_after_the_orchestrator() -> None:
    opts = options(["--only", "azure,docs,google"])
    assert opts.default is not None
    assert opts.backlog is not None
    assert opts.default.only == ("orchestrator", "docs", "google")
    assert opts.backlog.only == ("orchestrator", "azure", "docs")


def test_the_chart_can_also_go_where_it_is_published(tmp_path: Path) -> None:
    target = tmp_path / "docs" / "bench-backlog.png"
    opts = options(["--regime", "backlog", "--chart", str(target), "--serial"])
    assert opts.backlog is not None
    assert opts.backlog.chart_paths == (RESULTS / "backlog.png", target)
    assert opts.backlog.serial


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--only", "nobody"], "unknown contender 'nobody'"),
        (["--jobs", "451"], "--regime backlog"),
        (["--backlog-ratios", "5,x"], "backlog regime"),
        (["--backlog-submit-quota", "0"], "backlog regime"),
        (["--backlog-max-duration", "20000"], "14400"),
        (["--timeout", "0"], "--timeout"),
        (["--overhead", "-1"], "--overhead"),
        (["--backlog-overhead", "-1"], "backlog regime"),
        (["--regime", "sideways"], "invalid choice"),
    ],
)
def test_bad_options_stop_with_one_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        options(argv)
    assert stopped.value.code == 2
    assert message in capsys.readouterr().err
