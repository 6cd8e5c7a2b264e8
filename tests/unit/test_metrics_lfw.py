"""LFW list parsing, the identification split and its rank computation, on tiny inputs."""

import numpy as np
import pytest

from faceledger.errors import ConfigError
from faceledger_bench.calibrate import all_pair_scores
from faceledger_bench.identify import identification_metrics, split_people
from faceledger_bench.lfw import Person, parse_pairs, parse_people


def test_parse_view2_style_pairs(tmp_path):
    f = tmp_path / "pairs.txt"
    f.write_text("2\t1\nAnn\t1\t2\nBob\t1\tCy\t3\nDee\t2\t4\nEve\t1\tFay\t2\n")
    pairs = parse_pairs(f)
    assert [p.fold for p in pairs] == [0, 0, 1, 1]
    assert [p.same for p in pairs] == [True, False, True, False]
    assert pairs[1].image_a == "Bob/Bob_0001.jpg" and pairs[1].image_b == "Cy/Cy_0003.jpg"


def test_parse_view1_style_pairs_gets_balanced_folds(tmp_path):
    f = tmp_path / "pairsDevTest.txt"
    same = "".join(f"P{i}\t1\t2\n" for i in range(20))
    diff = "".join(f"P{i}\t1\tQ{i}\t1\n" for i in range(20))
    f.write_text("20\n" + same + diff)
    pairs = parse_pairs(f)
    folds = np.array([p.fold for p in pairs])
    labels = np.array([p.same for p in pairs])
    for k in range(10):
        assert (labels[folds == k]).sum() == 2 and (~labels[folds == k]).sum() == 2


def test_parse_pairs_rejects_a_wrong_count(tmp_path):
    f = tmp_path / "pairs.txt"
    f.write_text("1\t2\nAnn\t1\t2\n")
    with pytest.raises(ConfigError):
        parse_pairs(f)


def test_parse_people_skips_set_headers(tmp_path):
    f = tmp_path / "people.txt"
    f.write_text("2\n1\nAnn\t3\n1\nBob\t1\n")
    assert parse_people(f) == [Person("Ann", 3), Person("Bob", 1)]


def test_split_people():
    people = [Person("A", 3), Person("B", 2), Person("C", 1), Person("D", 2)]
    s = split_people(people)
    # multi-image people sorted: A (enrolled), B (kept out), D (enrolled); C is a distractor
    assert s.gallery == ("A/A_0001.jpg", "D/D_0001.jpg", "C/C_0001.jpg")
    assert s.mated == ("A/A_0002.jpg", "A/A_0003.jpg", "D/D_0002.jpg")
    assert s.nonmated == ("B/B_0001.jpg", "B/B_0002.jpg")


def test_identification_ranks():
    sims = np.array([[0.9, 0.1, 0.2], [0.5, 0.6, 0.7], [-np.inf, 0.3, 0.1]])
    mates = np.array([0, 0, 0])
    ranks, hit1, top, _ = identification_metrics(sims, mates, np.array([[0.2, 0.4]]))
    assert list(ranks) == [1, 3, 0]  # third: the mate has no face, never findable
    assert list(hit1) == [True, False, False]
    assert top[1] == pytest.approx(0.7)


def test_all_pair_scores_counts():
    v = np.eye(4, dtype=np.float32)
    v[1] = v[0]
    labels = np.array([0, 0, 1, 2])
    gen, imp = all_pair_scores(v, labels, block=3)
    assert gen.size == 1 and gen[0] == pytest.approx(1.0)
    assert imp.size == 5 and np.all(imp == 0)


def _embeddings(vectors, names):
    from faceledger_bench.embed import ImageEmbeddings

    v = np.asarray(vectors, dtype=np.float32)
    found = np.where(np.isnan(v[:, 0]), 0, 1)
    return ImageEmbeddings(tuple(names), v, v.copy(), np.ones(len(names)), found, 0.0)


def test_pair_scores_gives_nan_for_a_missing_face():
    from faceledger_bench.lfw import Pair
    from faceledger_bench.verify import pair_scores

    emb = _embeddings([[1, 0], [0.6, 0.8], [np.nan, np.nan]], ["a", "b", "c"])
    pairs = [Pair("a", "b", True, 0), Pair("a", "c", False, 0)]
    s = pair_scores(emb, pairs, flip=True)
    assert s[0] == pytest.approx(0.6) and np.isnan(s[1])
    assert list(emb.missing) == [False, False, True]


def test_fixed_threshold_point():
    from faceledger_bench.verify import fixed_threshold_point

    p = fixed_threshold_point([0.9, 0.2, 0.5, 0.1, np.nan], [1, 1, 0, 0, 0], 1e-2, 0.4)
    assert p.tar == pytest.approx(0.5) and p.achieved_far == pytest.approx(1 / 3)
