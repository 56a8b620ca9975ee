import test from "ava";
import { repoName } from "../../../cli/hooks/repo-name.ts";

test("a repository is named by its path below the first root that holds it, lowercased, without .git", (t) => {
  const roots = ["/srv/git/", "/var/lib/gitea/repositories"];
  t.is(repoName("/srv/git/Shop/Storefront.git", roots), "shop/storefront");
  t.is(repoName("/var/lib/gitea/repositories/ops/puppet.git", roots), "ops/puppet");
  t.is(repoName("/srv/git/tools", roots), "tools", "a work tree has no .git to drop");
});

test("outside every root, the directory's name; a configured name wins", (t) => {
  t.is(repoName("/home/ada/src/Widget.git", ["/srv/git"]), "widget");
  t.is(repoName("/srv/git-old/shop.git", ["/srv/git"]), "shop", "a sibling that shares the root's prefix is not below it");
  t.is(repoName("/srv/git/shop.git", ["", "/srv/git"]), "shop", "an empty root is ignored");
  t.is(repoName("/srv/git/shop.git", ["/srv/git"], "  Team/Shop "), "team/shop");
  t.is(repoName("/srv/git/shop.git", ["/srv/git"], ""), "shop", "an empty configured name is no name");
});
