"""Multilabel metrics against values computed by hand, and the threshold choice."""

import numpy as np
import pytest
from conftest import ROOT

from stacktags import config
from stacktags.config import ConfigError
from stacktags.metrics import evaluate_predictions
from stacktags.model import best_f1_buckets, micro_f1_at, reg_params, tuned_thresholds

TAGS = ["a", "b", "c", "d"]


def test_metrics_match_hand_computed_values(spark):
    rows = spark.createDataFrame(
        [
            (["a", "b"], ["a"], ["a", "c", "b", "d"]),  # hits 1 of 2 true, 1 predicted
            (["c"], ["c", "d"], ["d", "c", "a", "b"]),  # hits 1, one wrong
            (["a", "d"], ["a", "d"], ["a", "d", "b", "c"]),  # exact
        ],
        "truth array<string>, predicted array<string>, ranked array<string>",
    )
    m = evaluate_predictions(rows, TAGS)
    o = m.overall
    # micro: hits 1+1+2 = 4; predicted 1+2+2 = 5; true 2+1+2 = 5
    assert o["micro_precision"] == pytest.approx(4 / 5) and o["micro_recall"] == pytest.approx(4 / 5)
    assert o["micro_f1"] == pytest.approx(0.8)
    # per tag: a tp2 pred2 sup2 | b tp0 pred0 sup1 | c tp1 pred1 sup1 | d tp1 pred2 sup1
    per_tag = {t["tag"]: t for t in m.per_tag}
    assert (per_tag["a"]["precision"], per_tag["a"]["recall"]) == (1.0, 1.0)
    assert (per_tag["b"]["precision"], per_tag["b"]["recall"], per_tag["b"]["f1"]) == (0.0, 0.0, 0.0)
    assert (per_tag["d"]["precision"], per_tag["d"]["recall"]) == (0.5, 1.0)
    assert per_tag["d"]["f1"] == pytest.approx(2 / 3) and per_tag["c"]["support"] == 1
    assert o["macro_precision"] == pytest.approx((1 + 0 + 1 + 0.5) / 4)
    assert o["macro_recall"] == pytest.approx((1 + 0 + 1 + 1) / 4)
    assert o["macro_f1"] == pytest.approx((1 + 0 + 1 + 2 / 3) / 4)
    # P@1: a in {a,b} yes; d in {c} no; a yes -> 2/3.  P@3: |{a,c,b}∩{a,b}|=2, |{d,c,a}∩{c}|=1, |{a,d,b}∩{a,d}|=2
    assert o["p_at_1"] == pytest.approx(2 / 3)
    assert o["p_at_3"] == pytest.approx((2 / 3 + 1 / 3 + 2 / 3) / 3)
    assert o["p_at_5"] == pytest.approx((2 / 5 + 1 / 5 + 2 / 5) / 3)  # only 4 ranked: at most 4 hits out of 5
    assert o["r_at_5"] == pytest.approx(1.0)
    # Jaccard 1/2, 1/2, 1; Hamming (1 + 1 + 0) / 4 tags / 3 rows; subset accuracy 1/3
    assert o["jaccard"] == pytest.approx((0.5 + 0.5 + 1) / 3)
    assert o["hamming_loss"] == pytest.approx((1 / 4 + 1 / 4 + 0) / 3)
    assert o["subset_accuracy"] == pytest.approx(1 / 3)
    assert o["rows"] == 3


def validation_histograms():
    """(tags, 10 buckets) counts. Tag 0: positives high, negatives low. Tag 1: no positives. Tag 2: 3 positives, too
    few to tune. Tag 3: its positives all in bucket 0."""
    positives = np.zeros((4, 10))
    negatives = np.zeros((4, 10))
    positives[0, [7, 8, 9]] = [2, 3, 5]
    negatives[0, [1, 2, 6, 7]] = [10, 10, 1, 1]
    negatives[1, 3] = 4
    positives[2, 9] = 3
    positives[3, 0] = 8
    negatives[3, 5] = 1
    return positives, negatives


def test_best_f1_bucket_per_row():
    positives, negatives = validation_histograms()
    # tag 0 at 0.7: tp 10, fp 1 -> F1 20/21; at 0.6: tp 10, fp 2; at 0.8: tp 8, fp 0, fn 2 -> 16/18
    assert best_f1_buckets(positives[[0, 3]], negatives[[0, 3]]).tolist() == [7, 0]


def test_thresholds_meet_halfway_between_own_and_shared():
    positives, negatives = validation_histograms()
    shared = best_f1_buckets(positives.sum(axis=0, keepdims=True), negatives.sum(axis=0, keepdims=True))[0] / 10
    # all tags: at 0.7 tp 13, fp 1, fn 8 -> F1 26/35; at 0.0 tp 21, fp 27 -> 42/69; at 0.8 tp 11, fp 0 -> 22/32
    assert shared == pytest.approx(0.7)
    assert tuned_thresholds(positives, negatives) == pytest.approx([0.7, 0.7, 0.7, 0.35])
    assert tuned_thresholds(np.zeros((1, 10)), np.ones((1, 10))) == [0.9]  # no positives: F1 ties at 0, highest wins


def test_micro_f1_at_thresholds_counts_every_tag_at_or_above_its_threshold():
    positives, negatives = validation_histograms()
    # at 0.7 for every tag: tp 13, fp 1, fn 8 (the shared optimum above) -> F1 26/35
    assert micro_f1_at(positives, negatives, [0.7] * 4) == pytest.approx(26 / 35)
    # tag 3 at 0.0 instead: tag 3's rows all count -> tp 13 - tp3(0.7) + pos3, fp 1 - fp3(0.7) + neg3
    tp = 13 - positives[3, 7:].sum() + positives[3].sum()
    fp = 1 - negatives[3, 7:].sum() + negatives[3].sum()
    fn = positives.sum() - tp
    assert micro_f1_at(positives, negatives, [0.7, 0.7, 0.7, 0.0]) == pytest.approx(2 * tp / (2 * tp + fp + fn))
    assert micro_f1_at(np.zeros((1, 10)), np.ones((1, 10)), [0.5]) == 0.0


def test_reg_param_is_a_value_or_values_to_choose_from():
    def regs(value):
        return reg_params(config.load(ROOT / "conf" / "local.toml", settings=[f"train.reg_param={value}"]))

    assert regs("3e-7") == [3e-7]
    assert regs("[1e-6, 3e-6, 0]") == [1e-6, 3e-6, 0.0]
    for bad, says in (
        ("[]", "a number or a list of numbers"),
        ('["a"]', "a number or a list of numbers"),
        ("[true]", "a number or a list of numbers"),
        ("[1e-6, -1e-6]", "at least 0"),
    ):
        with pytest.raises(ConfigError, match=f"train.reg_param must be {says}"):
            regs(bad)
