import { describeShippedStack } from "./shipped";

describeShippedStack("aws-prod");
