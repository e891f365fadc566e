import { describeShippedStack } from "./shipped";

describeShippedStack("local");
