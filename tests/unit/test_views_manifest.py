"""Which code built a service's views, and when migrate must rebuild them."""
from shared.consumer import Projection
from shared.views_manifest import differences, manifest_of


class _View(Projection):
    def __init__(self, name, collections=(), version=1):
        self.name, self.collections, self.version = name, tuple(collections), version

    def handlers(self):
        return {}

    def reset(self):
        pass


def test_only_rebuildable_projections_are_listed_with_their_version_and_collections():
    manifest = manifest_of([_View("views", ["b", "a"], 3), _View("policy")])
    assert manifest == {"views": {"version": 3, "collections": ["a", "b"]}}


def test_a_new_collection_a_version_bump_a_new_or_removed_projection_each_need_a_rebuild():
    built = manifest_of([_View("views", ["a"]), _View("old", ["x"])])
    assert differences(built, built) == []
    assert differences(manifest_of([_View("views", ["a", "b"]), _View("old", ["x"])]), built) == [
        "views: version 1 -> 1, collections a -> a, b"]
    assert differences(manifest_of([_View("views", ["a"], 2), _View("old", ["x"])]), built)[0].startswith(
        "views: version 1 -> 2")
    assert differences(manifest_of([_View("views", ["a"])]), built) == ["old: removed"]
    assert differences(manifest_of([_View("views", ["a"]), _View("old", ["x"]), _View("new", ["n"])]), built) == [
        "new: new"]
    assert differences(built, None) == ["no record of which code built the views (a deployment older than view manifests)"]
