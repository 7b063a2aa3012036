// The demo CLI: filled by issue 4.
import BatchIPC
print("batch-shm-demo: not implemented yet")
import Glibc
Glibc.exit(1)
