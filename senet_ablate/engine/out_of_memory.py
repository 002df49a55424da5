"""Which errors mean the GPU ran out of memory, so that the run says what to type instead.

torch raises its OutOfMemoryError only where its own allocator fails. cuBLAS and cuDNN allocate
workspaces of their own (at the first matmul or convolution of a shape, or when a handle is
made), and their failures reach Python as a plain RuntimeError naming the library's status.
"""

import torch

# The statuses of an allocation that failed, as they appear in torch's messages.
ALLOCATION_FAILURES = ("CUBLAS_STATUS_ALLOC_FAILED", "CUDNN_STATUS_ALLOC_FAILED", "CUDA error: out of memory")


def is_out_of_memory(error: BaseException) -> bool:
    if isinstance(error, torch.cuda.OutOfMemoryError):
        return True
    return isinstance(error, RuntimeError) and any(status in str(error) for status in ALLOCATION_FAILURES)
