"""Writing an export's files together, never over an input or each other.

An export writes several files (the `.tflite`, its metadata, the report as
JSON and markdown, ONNX). Two rules keep the user's files safe:

- `check_paths` refuses an output path that is an input's (the `.keras`
  model, calibration or held-out data) or another output's, comparing real
  paths, so that `./m.json`, `dir/../m.json`, a symbolic link or a hard link
  to the same file count as the same;
- `StagedFiles` has each output written under its final name into a
  temporary folder beside its destination, and moves them all into place
  only when every one of them was written. If anything fails first, the old
  files are untouched and no temporary file is left behind.
"""

import os
import shutil
import tempfile


def _same_file(a, b):
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)  # hard links; case-insensitive disks
    except OSError:
        return False  # one of them does not exist yet


def check_paths(inputs, outputs):
    """Raise unless every output path differs from every input and from the
    other outputs.

    Args:
        inputs: `{what: path}` of the files read (e.g. `{"the model": ...}`);
            None values are skipped.
        outputs: `{what: path}` of the files to write, likewise.

    Raises:
        ValueError: naming both arguments and the path.
    """
    inputs = {k: os.fspath(v) for k, v in inputs.items() if v is not None}
    outputs = {k: os.fspath(v) for k, v in outputs.items() if v is not None}
    seen = list(inputs.items())
    for what, path in outputs.items():
        if os.path.isdir(path):
            raise ValueError(f"{what} must be a file path, received a folder: {path}")
        for other, other_path in seen:
            if _same_file(path, other_path):
                kind = "reads" if other in inputs else "writes"
                raise ValueError(
                    f"{what} ({path}) is the same file as {other} ({other_path}), "
                    f"which this export {kind}: choose another path"
                )
        seen.append((what, path))


class StagedFiles:
    """Files written under temporary folders, moved into place together.

        with StagedFiles() as files:
            write(files.stage("out/model.tflite"))   # out/.staged-XXXX/model.tflite
            write(files.stage("out/model.json"))
            files.commit()   # both replace their targets, or neither did

    `stage(path)` returns where to write `path` for now: a file of the same
    name in a temporary folder in `path`'s folder (created if missing), so
    that the final move is a rename on one file system and the written file
    may name its neighbours by their final names. `commit()` renames every
    staged file over its target; should one rename fail, the targets
    already replaced get their old content back. Leaving the `with` block
    removes the temporary folders (and the folders `stage` created, if
    nothing was committed).
    """

    def __init__(self):
        self._staged = {}  # final path -> staged path
        self._folders = {}  # destination folder -> temporary folder
        self._created = []  # destination folders that did not exist
        self._committed = False

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def stage(self, path):
        """Where to write `path` until `commit`."""
        final = os.path.abspath(os.fspath(path))
        if final in self._staged:
            return self._staged[final]
        folder = os.path.dirname(final)
        if folder not in self._folders:
            missing = []
            parent = folder
            while not os.path.exists(parent):
                missing.append(parent)
                parent = os.path.dirname(parent)
            os.makedirs(folder, exist_ok=True)
            self._created.extend(reversed(missing))
            self._folders[folder] = tempfile.mkdtemp(prefix=".staged-", dir=folder)
        staged = os.path.join(self._folders[folder], os.path.basename(final))
        self._staged[final] = staged
        return staged

    def commit(self):
        """Move every staged file over its target; all or none."""
        missing = [p for p, s in self._staged.items() if not os.path.isfile(s)]
        if missing:
            raise RuntimeError(f"nothing was written for {missing[0]}")
        backups, done = {}, []
        try:
            for final, staged in self._staged.items():
                if os.path.exists(final):
                    # Keep the old file's content beside the staged one
                    # (a hard link: the target never disappears), to put
                    # back if a later rename fails.
                    backup = staged + ".old"
                    try:
                        os.link(final, backup)
                    except OSError:
                        shutil.copy2(final, backup)
                    backups[final] = backup
                os.chmod(staged, 0o666 & ~_umask())
                os.replace(staged, final)
                done.append(final)
        except BaseException:
            for final in done:
                if final in backups:
                    os.replace(backups[final], final)
                else:
                    os.unlink(final)
            raise
        self._committed = True

    def close(self):
        """Remove the temporary folders (whatever they still hold)."""
        for temporary in self._folders.values():
            shutil.rmtree(temporary, ignore_errors=True)
        if not self._committed:
            for folder in reversed(self._created):
                try:
                    os.rmdir(folder)  # only if still empty
                except OSError:
                    pass
        self._folders, self._staged, self._created = {}, {}, []


def _umask():
    # The only way to read the umask is to set it: put it straight back.
    mask = os.umask(0)
    os.umask(mask)
    return mask
