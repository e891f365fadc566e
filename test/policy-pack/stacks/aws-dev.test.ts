import { describeShippedStack } from "./shipped";

describeShippedStack("aws-dev");
