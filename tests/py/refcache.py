"""The cache of the reference scripts: a file under --cache-dir named by a key that
hashes the script and the sizes of the inputs it reads, complete once its last line
starts with "END"."""
import hashlib
import os
import sys


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


def cached_main(args, doc, name, datasets, key, generate, defaults=None):
    """The reference scripts' common command line: --cache-dir DIR (default
    $CB_BUILD_DIR), --data DIR (default $CB_SHARED_DIR/data, else ../shared/data) and the
    script's own `defaults`.  Checks every dataset's test.csv, then prints the path of the
    cache file <name>.<key(data_dir, opts)>.txt, calling generate(path, data_dir, opts)
    first when it is missing or incomplete.  Returns the exit status."""
    opts = {"--cache-dir": os.environ.get("CB_BUILD_DIR"),
            "--data": os.path.join(os.environ.get("CB_SHARED_DIR", "../shared"), "data")}
    opts.update(defaults or {})
    while args:
        if args[0] in opts and len(args) >= 2:
            opts[args[0]] = args[1]
            args = args[2:]
        else:
            sys.stderr.write(doc)
            return 2
    if not opts["--cache-dir"]:
        sys.stderr.write("%s.py: set CB_BUILD_DIR or pass --cache-dir\n" % name)
        return 2
    data_dir = opts["--data"]
    for ds in datasets:
        if not os.path.exists(os.path.join(data_dir, ds, "test.csv")):
            sys.stderr.write("%s.py: %s/%s/test.csv not found\n" % (name, data_dir, ds))
            return 3
    os.makedirs(opts["--cache-dir"], exist_ok=True)
    out = os.path.join(os.path.abspath(opts["--cache-dir"]), "%s.%s.txt" % (name, key(data_dir, opts)))
    if not complete(out):
        generate(out, data_dir, opts)
    print(out)
    return 0
