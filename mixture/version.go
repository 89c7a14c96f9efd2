package mixture

// CodeVersion enters the cache keys of data stages (plan.WithCodeVersion):
// bump it whenever the same spec and inputs would build different bytes.
// 2: "all" draws as many records as the set has, with replacement; trans
// from a parallel instruction set; a folder of Parquet shards as a source;
// sampling "numpy".
const CodeVersion = "crossin-mixture/2"
