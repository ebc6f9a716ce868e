"""The cache of the reference scripts: a file under --cache-dir named by a key that
hashes the script and the sizes of the inputs it reads, complete once its last line
starts with "END"."""
import hashlib
import os


def script_key(script, data_dir, datasets, extra=b""):
    """16 hex digits: SHA-256 of the script's text, `extra`, and the size of every
    dataset's test.csv (-1 when missing)."""
    h = hashlib.sha256(open(os.path.abspath(script), "rb").read())
    h.update(extra)
    for ds in datasets:
        p = os.path.join(data_dir, ds, "test.csv")
        h.update(("%s:%d;" % (ds, os.path.getsize(p) if os.path.exists(p) else -1)).encode())
    return h.hexdigest()[:16]


def complete(path):
    """The file exists and ends with an "END ..." line (it was written to the end)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - 200))
            tail = f.read().decode("ascii", "replace")
        return "\nEND" in tail
    except OSError:
        return False
