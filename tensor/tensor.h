// tensor.h: the Tensor handle.
// A Tensor is a shared handle to a TensorImpl: a Storage plus dtype, shape, element strides and an element
// offset. Views (reshape of a contiguous tensor, permute, slice, split) make a new TensorImpl on the same
// Storage. Copying a Tensor copies the handle, not the data (use clone()).
// Autograd state (requires_grad, grad, the node that made it) lives here too, so the tape can walk the graph;
// the graph types themselves are in autograd/.
#pragma once
#include <functional>
#include <initializer_list>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "tensor/dtype.h"
#include "tensor/storage.h"

namespace fs {

struct Node;  // autograd/tape.h
struct TensorImpl;

class Tensor {
 public:
    Tensor() = default;
    explicit Tensor(std::shared_ptr<TensorImpl> impl) : m_impl(std::move(impl)) {}

    // --- creation -------------------------------------------------------------------------------------------
    static Tensor empty(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu);
    static Tensor zeros(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu);
    static Tensor full(const Shape& shape, double value, DType dtype = DType::f32);
    /// Copies `values` (row-major) into a new CPU tensor of `dtype`.
    static Tensor from_vector(const Shape& shape, const std::vector<double>& values, DType dtype = DType::f32);
    /// Uniform in [lo, hi) from `rng` (deterministic for a given seed).
    static Tensor uniform(const Shape& shape, double lo, double hi, std::mt19937_64& rng, DType dtype = DType::f32);
    /// Normal(mean, std) from `rng`.
    static Tensor normal(const Shape& shape, double mean, double std, std::mt19937_64& rng,
                         DType dtype = DType::f32);

    // --- metadata -------------------------------------------------------------------------------------------
    bool defined() const { return m_impl != nullptr; }
    const Shape& shape() const;
    const Shape& strides() const;
    int64_t offset() const;
    int64_t dim() const { return int64_t(shape().size()); }
    int64_t size(int64_t axis) const;  ///< negative axes count from the end
    int64_t numel() const { return shape_numel(shape()); }
    DType dtype() const;
    Device device() const;
    bool is_contiguous() const;
    const std::shared_ptr<Storage>& storage() const;
    std::string str() const;  ///< "f32[2,3,4] cpu"
    TensorImpl* impl() const { return m_impl.get(); }
    const std::shared_ptr<TensorImpl>& impl_ptr() const { return m_impl; }

    // --- element access (CPU) -------------------------------------------------------------------------------
    /// Pointer to element 0 (the offset applied); checks dtype and device.
    template <typename T> T* data() const;
    /// Element at a multi-index, converted to double (any dtype, CPU). For tests and small tools.
    double at(std::initializer_list<int64_t> idx) const;
    double item() const;  ///< the only element of a one-element tensor
    /// All elements in row-major order, converted to double.
    std::vector<double> to_vector() const;

    // --- views (share storage) ------------------------------------------------------------------------------
    /// View with a new shape; one dimension may be -1. Requires a contiguous tensor (see reshape()).
    Tensor view(const Shape& shape) const;
    /// view() when contiguous, otherwise a contiguous copy reshaped.
    Tensor reshape(const Shape& shape) const;
    Tensor permute(const std::vector<int64_t>& dims) const;
    Tensor transpose(int64_t a, int64_t b) const;
    /// Elements [start, end) with `step` along `axis` (negative start/end count from the end).
    Tensor slice(int64_t axis, int64_t start, int64_t end, int64_t step = 1) const;
    /// `n` equal parts along `axis` (e.g. the channel split of the hybrid norm); views.
    std::vector<Tensor> chunk(int64_t n, int64_t axis) const;

    // --- copies ---------------------------------------------------------------------------------------------
    Tensor contiguous() const;  ///< itself when already contiguous
    Tensor clone() const;       ///< always a new contiguous copy
    Tensor to(DType dtype) const;
    Tensor to(Device device) const;
    /// Copies `src` (same shape, any strides, any float dtype) into this tensor's elements.
    void copy_from(const Tensor& src);
    void fill(double value);

    // --- autograd state -------------------------------------------------------------------------------------
    bool requires_grad() const;
    Tensor& set_requires_grad(bool on);
    /// Accumulated gradient of a leaf (undefined until a backward reaches it).
    Tensor grad() const;
    void zero_grad();
    /// A new handle on the same storage with no autograd history.
    Tensor detach() const;
    const std::shared_ptr<Node>& grad_fn() const;
    const std::string& name() const;
    Tensor& set_name(std::string name);

 private:
    std::shared_ptr<TensorImpl> m_impl;
};

struct TensorImpl {
    std::shared_ptr<Storage> storage;
    DType dtype = DType::f32;
    Shape shape;
    Shape strides;       // in elements
    int64_t offset = 0;  // in elements
    // autograd
    bool requires_grad = false;
    Tensor grad;
    std::shared_ptr<Node> grad_fn;  // the node that produced this tensor (null for leaves)
    int output_nr = 0;              // which output of grad_fn
    std::string name;
};

template <typename T> T* Tensor::data() const {
    FS_CHECK(defined(), "data(): undefined tensor");
    FS_CHECK(m_impl->dtype == dtype_of<T>::value, "data(): tensor is ", dtype_name(m_impl->dtype),
             " but ", dtype_name(dtype_of<T>::value), " was asked for");
    return static_cast<T*>(m_impl->storage->data()) + m_impl->offset;
}

/// Calls f(linear_index, element_offset) for every element of (shape, strides) in row-major order.
void for_each_offset(const Shape& shape, const Shape& strides, const std::function<void(int64_t, int64_t)>& f);

/// Largest |a-b| over all elements (same shape; any float dtypes).
double max_abs_diff(const Tensor& a, const Tensor& b);

}  // namespace fs
