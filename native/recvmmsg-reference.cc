// Benchmark reference only: a plain poll + recvmmsg loop in C on an AF_PACKET socket without a
// ring, so bench/af-packet-io.ts can compare the ring-and-batches path in the same run.
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include <napi.h>

#include "packet-socket.h"

namespace tollgate {

[[noreturn]] void ThrowSysError(Napi::Env env, const std::string& ifname, const SysError& e);

namespace {

double NowSeconds() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

}  // namespace

// benchRecvmmsg(ifname, netns, durationMs, batch) -> {packets, seconds, kernelPackets, kernelDrops}.
// Blocks the calling thread for durationMs: for benchmarks, never for the agent.
Napi::Value BenchRecvmmsg(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string ifname = info[0].As<Napi::String>().Utf8Value();
  const std::string netns = info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "";
  const double durationMs = info[2].As<Napi::Number>().DoubleValue();
  const unsigned batch = info[3].IsNumber() ? info[3].As<Napi::Number>().Uint32Value() : 64;
  if (ifname.empty() || ifname.size() >= IFNAMSIZ || batch == 0 || batch > 1024) {
    throw Napi::RangeError::New(env, "benchRecvmmsg: bad interface name or batch");
  }
  int fd = -1;
  try {
    fd = OpenPacketSocket(netns);
    ifreq ifr{};
    std::memcpy(ifr.ifr_name, ifname.c_str(), ifname.size());
    if (ioctl(fd, SIOCGIFINDEX, &ifr) != 0) throw SysError("ioctl(SIOCGIFINDEX)", errno);
    int one = 1;
    int rcvbuf = 16 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf));
    if (setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one)) != 0) {
      throw SysError("setsockopt(PACKET_IGNORE_OUTGOING)", errno);
    }
    sockaddr_ll addr{};
    addr.sll_family = AF_PACKET;
    addr.sll_protocol = htons(ETH_P_ALL);
    addr.sll_ifindex = ifr.ifr_ifindex;
    if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) throw SysError("bind", errno);
  } catch (const SysError& e) {
    if (fd >= 0) close(fd);
    ThrowSysError(env, ifname, e);
  }
  std::vector<uint8_t> bufs(static_cast<size_t>(batch) * 2048);
  std::vector<iovec> iov(batch);
  std::vector<mmsghdr> msgs(batch);
  for (unsigned i = 0; i < batch; i++) {
    iov[i] = iovec{bufs.data() + static_cast<size_t>(i) * 2048, 2048};
    std::memset(&msgs[i], 0, sizeof(msgs[i]));
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  double packets = 0;
  const double start = NowSeconds();
  const double end = start + durationMs / 1000.0;
  while (NowSeconds() < end) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 10) <= 0) continue;
    int n = recvmmsg(fd, msgs.data(), batch, MSG_DONTWAIT, nullptr);
    if (n > 0) packets += n;
  }
  const double seconds = NowSeconds() - start;
  tpacket_stats st{};
  socklen_t len = sizeof(st);
  getsockopt(fd, SOL_PACKET, PACKET_STATISTICS, &st, &len);
  close(fd);
  Napi::Object o = Napi::Object::New(env);
  o.Set("packets", packets);
  o.Set("seconds", seconds);
  o.Set("kernelPackets", static_cast<double>(st.tp_packets));
  o.Set("kernelDrops", static_cast<double>(st.tp_drops));
  return o;
}

}  // namespace tollgate
