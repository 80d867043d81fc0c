// Prototype: oneDNN's LSTM forward (inference) as a TensorFlow op. x (T,N,I) time-major,
// kernel (I,4H), recurrent_kernel (H,4H), bias (4H), gate order i,f,c~,o. Returns h_T (N,H).
#include <map>
#include <memory>
#include <mutex>
#include <tuple>
#include <oneapi/dnnl/dnnl.hpp>
#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/shape_inference.h"
using namespace tensorflow;
using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

REGISTER_OP("OneDnnLstmInference")
    .Input("x: float").Input("kernel: float").Input("recurrent_kernel: float").Input("bias: float")
    .Output("h: float")
    .SetShapeFn([](shape_inference::InferenceContext* c) {
      c->set_output(0, c->Matrix(c->Dim(c->input(0), 1), c->Dim(c->input(2), 0)));
      return OkStatus();
    });

class OneDnnLstmInferenceOp : public OpKernel {
 public:
  explicit OneDnnLstmInferenceOp(OpKernelConstruction* ctx) : OpKernel(ctx), eng_(dnnl::engine::kind::cpu, 0) {}
  void Compute(OpKernelContext* ctx) override {
    const Tensor& x = ctx->input(0); const Tensor& w = ctx->input(1);
    const Tensor& u = ctx->input(2); const Tensor& b = ctx->input(3);
    const int64_t T = x.dim_size(0), N = x.dim_size(1), I = x.dim_size(2), H = u.dim_size(0);
    Tensor* h = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, TensorShape({N, H}), &h));
    Tensor y, c;
    OP_REQUIRES_OK(ctx, ctx->allocate_temp(DT_FLOAT, TensorShape({T, N, H}), &y));
    OP_REQUIRES_OK(ctx, ctx->allocate_temp(DT_FLOAT, TensorShape({N, H}), &c));
    dnnl::memory::dims src = {T, N, I}, wl = {1, 1, I, 4, H}, wi = {1, 1, H, 4, H}, bd = {1, 1, 4, H},
                       dst = {T, N, H}, it = {1, 1, N, H};
    dnnl::memory::desc src_md(src, dt::f32, tag::tnc), dst_md(dst, dt::f32, tag::tnc), it_md(it, dt::f32, tag::ldnc),
        b_md(bd, dt::f32, tag::ldgo);
    auto pd = dnnl::lstm_forward::primitive_desc(eng_, dnnl::prop_kind::forward_inference,
        dnnl::rnn_direction::unidirectional_left2right, src_md, dnnl::memory::desc(), dnnl::memory::desc(),
        dnnl::memory::desc(wl, dt::f32, tag::any), dnnl::memory::desc(wi, dt::f32, tag::any), b_md,
        dst_md, it_md, it_md);
    dnnl::stream s(eng_);
    auto ptr = [](const Tensor& t) { return const_cast<float*>(t.flat<float>().data()); };
    dnnl::memory wl_user({wl, dt::f32, tag::ldigo}, eng_, ptr(w)), wi_user({wi, dt::f32, tag::ldigo}, eng_, ptr(u));
    dnnl::memory wl_m(pd.weights_layer_desc(), eng_), wi_m(pd.weights_iter_desc(), eng_);
    dnnl::reorder(wl_user, wl_m).execute(s, wl_user, wl_m);
    dnnl::reorder(wi_user, wi_m).execute(s, wi_user, wi_m);
    dnnl::memory x_m(src_md, eng_, ptr(x)), y_m(dst_md, eng_, y.flat<float>().data()),
        h_m(it_md, eng_, h->flat<float>().data()), c_m(it_md, eng_, c.flat<float>().data()), b_m(b_md, eng_, ptr(b));
    dnnl::lstm_forward(pd).execute(s, {{DNNL_ARG_SRC_LAYER, x_m}, {DNNL_ARG_WEIGHTS_LAYER, wl_m},
        {DNNL_ARG_WEIGHTS_ITER, wi_m}, {DNNL_ARG_BIAS, b_m}, {DNNL_ARG_DST_LAYER, y_m},
        {DNNL_ARG_DST_ITER, h_m}, {DNNL_ARG_DST_ITER_C, c_m}});
    s.wait();
  }
 private:
  dnnl::engine eng_;
};
REGISTER_KERNEL_BUILDER(Name("OneDnnLstmInference").Device(DEVICE_CPU), OneDnnLstmInferenceOp);
