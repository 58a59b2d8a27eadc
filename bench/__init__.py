"Benchmark of mlm_course against a baseline written like the seed notebook's pipeline (see bench/README.md)."
