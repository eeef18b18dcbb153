"""Downloads with a cache, shared by the data loaders (private)."""

import os
import shutil
import urllib.request


def default_cache_dir(subfolder):
    """`$KERAS_HOME/datasets/<subfolder>`, `KERAS_HOME` defaulting to `~/.keras`."""
    home = os.environ.get("KERAS_HOME") or os.path.join(
        os.path.expanduser("~"), ".keras"
    )
    return os.path.join(home, "datasets", subfolder)


def download(url, path):
    """Fetches `url` into the file `path`; a partial download never lands there."""
    partial = path + ".part"
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            with open(partial, "wb") as file:
                shutil.copyfileobj(response, file)
        os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.remove(partial)


def fetch(url, path, hint, download_function=download):
    """`path`, downloaded from `url` first unless the cache already has it.

    A failed download raises `OSError` naming the URL, the path and `hint`
    (what to do without a network).
    """
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        try:
            download_function(url, path)
        except OSError as error:  # urllib's URLError is an OSError
            raise OSError(
                f"could not download {url} to {path}: {error}. {hint}"
            ) from error
    return path
