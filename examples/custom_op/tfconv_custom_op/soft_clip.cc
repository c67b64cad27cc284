// SoftClip: a TensorFlow custom op, y = limit * tanh(x / limit) (a smooth clip to (-limit, limit)).
// Built against the installed TensorFlow by tfconv_custom_op.build (flags from tf.sysconfig).
#include <cmath>

#include "tensorflow/core/framework/common_shape_fns.h"
#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/shape_inference.h"

using namespace tensorflow;  // NOLINT(build/namespaces)

REGISTER_OP("SoftClip")
    .Input("x: float")
    .Output("y: float")
    .Attr("limit: float = 1.0")
    .SetShapeFn(shape_inference::UnchangedShape)
    .Doc("y = limit * tanh(x / limit), element-wise.");

class SoftClipOp : public OpKernel {
 public:
  explicit SoftClipOp(OpKernelConstruction* ctx) : OpKernel(ctx) {
    OP_REQUIRES_OK(ctx, ctx->GetAttr("limit", &limit_));
    OP_REQUIRES(ctx, limit_ > 0.0f, errors::InvalidArgument("SoftClip: limit must be > 0"));
  }

  void Compute(OpKernelContext* ctx) override {
    const Tensor& x = ctx->input(0);
    Tensor* y = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, x.shape(), &y));
    auto in = x.flat<float>();
    auto out = y->flat<float>();
    for (int64_t i = 0; i < in.size(); ++i) {
      out(i) = limit_ * std::tanh(in(i) / limit_);
    }
  }

 private:
  float limit_;
};

REGISTER_KERNEL_BUILDER(Name("SoftClip").Device(DEVICE_CPU), SoftClipOp);
