import BatchIPC
print("helper: filled by issue 3")
