/** Pulumi entry point (`main` in Pulumi.yaml): the module's exports are the stack outputs. */
import { main } from "./main";

export = main();
