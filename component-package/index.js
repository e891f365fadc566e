// The component package's runtime entry (package.json `main`). The Node.js language host starts a
// component plugin with @pulumi/pulumi's plugin runner, which registers its vendored ts-node; the
// kit is compiled with tsx instead, as everywhere else (ts-node resolves `./catalog/aws` to the
// aws.json beside aws.ts). Pulumi's component analyzer reads index.ts: the same exports.
require("tsx/cjs");
module.exports = require("./index.ts");
