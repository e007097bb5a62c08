"""The durable record of a batch: its meta, input, results logs and the outcome frames read back from them."""
