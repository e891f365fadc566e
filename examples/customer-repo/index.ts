/**
 * Acme's Pulumi program: the kit's whole platform, driven by the `sovereign:` settings of this
 * repository's own `Pulumi.<stack>.yaml` files. The kit is a dependency at a pinned version
 * (package.json); upgrading it is a change of that pin.
 */
import { main } from "sovereign";

export = main();
