@_exported import CPUKernels
