import Batch
print("batch-bench")
