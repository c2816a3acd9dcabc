"""The local runtime's data folder: a stop at any moment of a save leaves a whole snapshot to restore."""

from pathlib import Path

import pytest
from happypath_testkit.workflow import new_place

from happypath import keys
from happypath.repository import Repository
from happypath_local.persistence import DataDirectory


def test_a_stop_between_the_two_renames_of_a_save_restores_the_previous_snapshot(app, tmp_path, monkeypatch):
    data = DataDirectory(tmp_path, app.stack)
    place = new_place()
    data.save()
    real_rename = Path.rename

    def stop_once_moved_aside(self: Path, target: Path) -> Path:
        moved = real_rename(self, target)
        if Path(target).name == "snapshot.old":
            raise KeyboardInterrupt  # Ctrl-C, or the machine going down, at the worst moment
        return moved

    monkeypatch.setattr(Path, "rename", stop_once_moved_aside)
    with pytest.raises(KeyboardInterrupt):
        data.save()
    monkeypatch.undo()
    assert not (tmp_path / "snapshot").exists()

    Repository().table.delete_item(Key=keys.place_key(place.placeId))
    assert data.restore() > 0
    assert Repository().get_place(place.placeId) is not None
