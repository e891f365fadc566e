/**
 * The seam between the pack and the kit: the pack keeps its own copy of the data-classification
 * levels (it installs without the kit, docs/decisions/0007-own-packages.md), so the two lists must
 * stay the same.
 */
import { describe, expect, it } from "vitest";
import { CLASSIFICATIONS as PACK_CLASSIFICATIONS } from "../../policy-pack/lib";
import { CLASSIFICATIONS } from "../../components/lib/classification";

describe("the pack's classification levels", () => {
  it("GIVEN the pack's classification levels WHEN compared with the kit's THEN they are the same list", () => {
    expect([...PACK_CLASSIFICATIONS]).toEqual([...CLASSIFICATIONS]);
  });
});
