// oneDNN LSTM forward (inference), plain layouts as Keras stores them: x (T,N,I), W (I,4H) = ldigo,
// U (H,4H) = ldigo, b (4H) = ldgo; gate order i, f, c~, o (Keras' and oneDNN's).
#include <oneapi/dnnl/dnnl.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>
#include <algorithm>
using namespace dnnl;
using tag = memory::format_tag;
using dt = memory::data_type;
int main(int argc, char** argv) {
  int N = atoi(argv[1]), T = atoi(argv[2]), I = atoi(argv[3]), H = atoi(argv[4]);
  engine eng(engine::kind::cpu, 0);
  stream s(eng);
  memory::dims src_dims = {T, N, I}, wl_dims = {1, 1, I, 4, H}, wi_dims = {1, 1, H, 4, H},
               b_dims = {1, 1, 4, H}, dst_dims = {T, N, H}, iter_dims = {1, 1, N, H};
  std::vector<float> x(T * N * I), W(I * 4 * H), U(H * 4 * H), b(4 * H, 0.f), y(T * N * H), hT(N * H), cT(N * H);
  for (auto& v : x) v = (rand() / (float)RAND_MAX - 0.5f);
  for (auto& v : W) v = (rand() / (float)RAND_MAX - 0.5f) * 0.1f;
  for (auto& v : U) v = (rand() / (float)RAND_MAX - 0.5f) * 0.1f;
  auto src_md = memory::desc(src_dims, dt::f32, tag::tnc);
  auto dst_md = memory::desc(dst_dims, dt::f32, tag::tnc);
  auto iter_md = memory::desc(iter_dims, dt::f32, tag::ldnc);
  auto wl_any = memory::desc(wl_dims, dt::f32, tag::any);
  auto wi_any = memory::desc(wi_dims, dt::f32, tag::any);
  auto b_md = memory::desc(b_dims, dt::f32, tag::ldgo);
  auto pd = lstm_forward::primitive_desc(eng, prop_kind::forward_inference,
      rnn_direction::unidirectional_left2right, src_md, memory::desc(), memory::desc(), wl_any, wi_any,
      b_md, dst_md, iter_md, iter_md);
  memory x_m(src_md, eng, x.data()), y_m(dst_md, eng, y.data()), h_m(iter_md, eng, hT.data()), c_m(iter_md, eng, cT.data());
  memory wl_user({wl_dims, dt::f32, tag::ldigo}, eng, W.data()), wi_user({wi_dims, dt::f32, tag::ldigo}, eng, U.data());
  memory b_m(b_md, eng, b.data());
  memory wl_m(pd.weights_layer_desc(), eng), wi_m(pd.weights_iter_desc(), eng);
  memory ws;
  auto run = [&](bool reorder_weights) {
    if (reorder_weights) {
      reorder(wl_user, wl_m).execute(s, wl_user, wl_m);
      reorder(wi_user, wi_m).execute(s, wi_user, wi_m);
    }
    lstm_forward(pd).execute(s, {{DNNL_ARG_SRC_LAYER, x_m}, {DNNL_ARG_WEIGHTS_LAYER, wl_m},
        {DNNL_ARG_WEIGHTS_ITER, wi_m}, {DNNL_ARG_BIAS, b_m}, {DNNL_ARG_DST_LAYER, y_m},
        {DNNL_ARG_DST_ITER, h_m}, {DNNL_ARG_DST_ITER_C, c_m}});
    s.wait();
  };
  for (int reorder_each : {1, 0}) {
    for (int i = 0; i < 5; i++) run(true);
    std::vector<double> ts;
    for (int i = 0; i < 30; i++) {
      auto t0 = std::chrono::steady_clock::now();
      run(reorder_each);
      ts.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    std::sort(ts.begin(), ts.end());
    printf("%dx%dx%dx%d onednn lstm fwd %s: %.2f ms\n", N, T, I, H, reorder_each ? "(weights reordered every call)" : "(weights reordered once)", ts[ts.size() / 2]);
  }
}
