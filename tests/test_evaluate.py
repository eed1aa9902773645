import orjson

from pipeline.evaluate import main, worst_errors
from tests.helpers import write_jsonl

BODY_A = ("The Indian navy captured 23 pirates in the Gulf of Aden after they tried to board a merchant "
          "vessel, officials in New Delhi said on Saturday, adding that the warship INS Mysore repelled the attack.")
BODY_B = ("Lindsay Lohan checked into a rehab facility in California on Thursday, her lawyer said, "
          "hours before a judge in Los Angeles was due to rule on her probation for a car crash.")


def test_evaluate_json_contract_on_a_tiny_labeled_fixture(tmp_path, capsys):
    rows = [
        {"id": "a1", "source": "AP", "headline": "Navy captures 23 pirates", "body": BODY_A,
         "published_at": "2018-01-01T00:00:00Z", "cluster": "pirates", "variant_cluster": "pa"},
        {"id": "a2", "source": "Paper", "headline": "Indian navy foils pirate attack", "body": BODY_A + " More later.",
         "published_at": "2018-01-01T03:00:00Z", "cluster": "pirates", "variant_cluster": "pa"},
        {"id": "b1", "source": "AP", "headline": "Lohan enters rehab", "body": BODY_B,
         "published_at": "2018-01-01T00:00:00Z", "cluster": "lohan", "variant_cluster": "lb"},
    ]
    path = write_jsonl(tmp_path / "labeled.jsonl", rows)
    assert main(["--labeled", str(path), "--json"]) == 0
    result = orjson.loads(capsys.readouterr().out.strip().splitlines()[-1])
    keys = {"bcubed_precision", "bcubed_recall", "bcubed_f1", "pairwise_precision", "pairwise_recall",
            "pairwise_f1", "ari", "n_pred", "n_gold"}
    assert set(result) == {"story", "variant"}
    assert set(result["story"]) == keys == set(result["variant"])
    assert result["story"]["bcubed_f1"] == 1.0 and result["story"]["n_gold"] == 2
    assert result["variant"]["pairwise_f1"] == 1.0


def test_markdown_report_has_ours_and_both_baselines(tmp_path, sample_path):
    out = tmp_path / "EVAL.md"
    assert main(["--labeled", str(sample_path), "--markdown", str(out)]) == 0
    text = out.read_text()
    assert "| ours (story tier) |" in text and "| ours (variant tier) |" in text
    assert "near_dup_minhash_5gram_t0.7" in text and "tfidf_average_link_best_t" in text


def test_worst_errors_name_merges_and_splits():
    gold = {("s", "1"): "x", ("s", "2"): "x", ("s", "3"): "y", ("s", "4"): "y"}
    pred = {("s", "1"): "p", ("s", "2"): "p", ("s", "3"): "p", ("s", "4"): "q"}
    errors = worst_errors(pred, gold, {k: f"headline {k[1]}" for k in gold})
    assert errors["worst_merges"][0]["gold_clusters"] == {"x": 2, "y": 1}
    assert errors["worst_splits"][0]["gold"] == "y"
    assert errors["worst_splits"][0]["predicted_sizes"] == [1, 1]
