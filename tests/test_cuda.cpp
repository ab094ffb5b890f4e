// test_cuda.cpp: device memory round trips. Where no GPU is present (or CUDA was not built) each test reports
// itself skipped, by name, never passed.
#include <gtest/gtest.h>

#include "tensor/tensor.h"

using namespace fs;

#define FS_SKIP_WITHOUT_GPU()                                                                  \
    do {                                                                                       \
        if (!cuda_built()) GTEST_SKIP() << "skipped: this build has no CUDA backend";          \
        if (!cuda_available()) GTEST_SKIP() << "skipped: CUDA is built but no GPU is present"; \
    } while (0)

TEST(Cuda, HostDeviceRoundTrip) {
    FS_SKIP_WITHOUT_GPU();
    std::mt19937_64 rng(5);
    Tensor h = Tensor::uniform({3, 5, 7}, -1, 1, rng);
    Tensor d = h.to(Device::cuda);
    EXPECT_EQ(d.device(), Device::cuda);
    Tensor d2 = d.clone();
    Tensor back = d2.to(Device::cpu);
    EXPECT_EQ(max_abs_diff(back, h), 0.0);
}

TEST(Cuda, StridedViewIsStagedThroughContiguous) {
    FS_SKIP_WITHOUT_GPU();
    std::mt19937_64 rng(6);
    Tensor h = Tensor::uniform({4, 6}, -1, 1, rng);
    Tensor back = h.transpose(0, 1).to(Device::cuda).to(Device::cpu);
    EXPECT_EQ(max_abs_diff(back, h.transpose(0, 1)), 0.0);
}

TEST(Cuda, WithoutCudaDeviceMemoryThrows) {
    if (cuda_built()) GTEST_SKIP() << "skipped: this build has CUDA (the check is for CPU-only builds)";
    EXPECT_THROW(Tensor::empty({4}, DType::f32, Device::cuda), Error);
}
