import io
import pickle
import zipfile

import numpy as np
import pytest

from handwriter.ink import Ink, InkError, read_stroke3, write_stroke3


def sketches(*arrays):
    out = np.empty(len(arrays), dtype=object)
    for i, a in enumerate(arrays):
        out[i] = np.asarray(a, dtype=np.int16)
    return out


def npy_member(payload: bytes, shape=(1,)) -> bytes:
    """A .npy object array whose pickle we wrote by hand."""
    f = io.BytesIO()
    np.lib.format.write_array_header_1_0(f, {"descr": "|O", "fortran_order": False,
                                             "shape": shape})
    return f.getvalue() + payload


def test_reads_splits_and_flips_y(tmp_path):
    f = tmp_path / "cat.npz"
    np.savez(f, train=sketches([[5, 10, 0], [1, -2, 1]], [[0, 0, 1]]),
             valid=sketches([[3, 4, 1]]), test=sketches())
    inks = read_stroke3(f)
    assert [i.meta["split"] for i in inks] == ["train", "train", "valid"]
    np.testing.assert_array_equal(inks[0].strokes, [[5, -10, 0], [1, 2, 1]])
    assert inks[0].strokes.dtype == np.float32
    [valid] = read_stroke3(f, split="valid")
    np.testing.assert_array_equal(valid.strokes, [[3, -4, 1]])
    with pytest.raises(InkError, match=r"cat\.npz: no split 'tset'"):
        read_stroke3(f, split="tset")


def test_sketches_of_one_length_stacked_by_numpy_are_read(tmp_path):
    f = tmp_path / "same.npz"
    stacked = np.empty((2, 2, 3), dtype=object)  # what np.array makes of equal-length lists
    stacked[...] = [[[5, 10, 0], [1, -2, 1]], [[3, 4, 0], [0, 1, 1]]]
    np.savez(f, train=stacked)
    inks = read_stroke3(f)
    np.testing.assert_array_equal(inks[1].strokes, [[3, -4, 0], [0, -1, 1]])


def test_write_read_round_trip(tmp_path):
    f = tmp_path / "out.npz"
    inks = [Ink([[5, 10, 0], [1, -2, 1]]), Ink([[7, 8, 1], [1, 1, 1]], meta={"split": "test"})]
    write_stroke3(f, inks, split=None)
    back = read_stroke3(f)
    assert [i.meta["split"] for i in back] == ["train", "test"]
    for a, b in zip(inks, back, strict=True):
        np.testing.assert_array_equal(b.strokes, a.strokes)
    with np.load(f, allow_pickle=True) as data:  # the sketch-rnn layout, y down, int16
        assert sorted(data.files) == ["test", "train", "valid"]
        assert data["train"][0].dtype == np.int16
        np.testing.assert_array_equal(data["train"][0], [[5, -10, 0], [1, 2, 1]])
    write_stroke3(f, [Ink([[0.5, 1, 1]])], split="valid")
    [ink] = read_stroke3(f)
    assert ink.meta["split"] == "valid" and ink.strokes.tolist() == [[0.5, 1, 1]]


def test_reads_numpy1_pickles(tmp_path):
    payload = pickle.dumps(sketches([[1, 2, 1]]), protocol=3)
    payload = payload.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    f = tmp_path / "old.npz"
    with zipfile.ZipFile(f, "w") as z:
        z.writestr("train.npy", npy_member(payload))
    [ink] = read_stroke3(f)
    np.testing.assert_array_equal(ink.strokes, [[1, -2, 1]])


def test_refuses_a_pickle_that_runs_code(tmp_path):
    marker = tmp_path / "ran"
    payload = f"cos\nsystem\n(S'touch {marker}'\ntR.".encode()  # os.system("touch ...")
    f = tmp_path / "evil.npz"
    with zipfile.ZipFile(f, "w") as z:
        z.writestr("train.npy", npy_member(payload))
    with pytest.raises(InkError, match=r"evil\.npz: train\.npy: refusing to unpickle os\.system"):
        read_stroke3(f)
    assert not marker.exists()


def test_bad_files_name_the_file_and_member(tmp_path):
    f = tmp_path / "junk.npz"
    f.write_bytes(b"not a zip")
    with pytest.raises(InkError, match=r"junk\.npz: not a readable \.npz"):
        read_stroke3(f)
    with zipfile.ZipFile(f, "w") as z:
        z.writestr("train.npy", npy_member(b"\x80\x04garbage"))
    with pytest.raises(InkError, match=r"junk\.npz: train\.npy: not a readable \.npy"):
        read_stroke3(f)
    np.savez(f, train=sketches([[1, 2]]))
    with pytest.raises(InkError, match=r"junk\.npz: train\[0\]: expected a numeric \(n, 3\)"):
        read_stroke3(f)
