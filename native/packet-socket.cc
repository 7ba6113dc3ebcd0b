// AF_PACKET socket setup, TPACKET_V3 receive-ring reading and batched sends (packet(7),
// Documentation/networking/packet_mmap.rst). Errors leave as SysError with the failing call's errno.
#include "packet-socket.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <system_error>
#include <thread>

namespace tollgate {

namespace {

constexpr uint32_t kRxFrameSize = 2048;  // only sizes the kernel's bookkeeping: V3 packs frames
constexpr uint32_t kTxBlockSize = 1 << 16;
constexpr size_t kTxDataOffset = TPACKET_ALIGN(sizeof(tpacket3_hdr));
constexpr uint32_t kMmsgChunk = 1024;
constexpr size_t kEthAddrsLen = 12;

std::string ErrnoText(int err) {
  char buf[128];
  // GNU strerror_r returns the message, possibly not in buf.
  return std::string(strerror_r(err, buf, sizeof(buf)));
}

bool IsPowerOfTwo(uint32_t v) { return v != 0 && (v & (v - 1)) == 0; }

// Creates the socket inside another network namespace. setns() changes only the calling thread,
// so a short-lived thread enters the namespace, creates the socket and ends: the socket keeps
// its namespace, and no other code ever runs in the wrong one.
int SocketInNamespace(const std::string& netns) {
  std::string path = netns.find('/') == std::string::npos ? "/run/netns/" + netns : netns;
  int nsfd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (nsfd < 0) throw SysError("open(" + path + ")", errno);
  int fd = -1;
  int err = 0;
  const char* failed = nullptr;
  try {
    std::thread worker([&] {
      if (setns(nsfd, CLONE_NEWNET) != 0) {
        err = errno;
        failed = "setns";
        return;
      }
      fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
      if (fd < 0) {
        err = errno;
        failed = "socket";
      }
    });
    worker.join();
  } catch (const std::system_error& e) {
    close(nsfd);
    throw SysError("pthread_create", e.code().value());
  }
  close(nsfd);
  if (failed != nullptr) throw SysError(failed, err);
  return fd;
}

void SetOption(int fd, int level, int name, const void* value, socklen_t len, const char* what) {
  if (setsockopt(fd, level, name, value, len) != 0) throw SysError(std::string("setsockopt(") + what + ")", errno);
}

void SetIntOption(int fd, int name, int value, const char* what) {
  SetOption(fd, SOL_PACKET, name, &value, sizeof(value), what);
}

}  // namespace

int OpenPacketSocket(const std::string& netns) {
  int fd = netns.empty() ? socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, 0) : SocketInNamespace(netns);
  if (fd < 0) throw SysError("socket(AF_PACKET)", errno);
  return fd;
}

SysError::SysError(std::string call, int e)
    : std::runtime_error(call + ": " + ErrnoText(e)), syscall(std::move(call)), err(e) {}

PacketSocket::PacketSocket(const OpenOptions& opts) {
  if (opts.ifname.empty() || opts.ifname.size() >= IFNAMSIZ) throw SysError("if_nametoindex", ENODEV);
  const uint32_t page = static_cast<uint32_t>(sysconf(_SC_PAGESIZE));
  if (!IsPowerOfTwo(opts.blockSize) || opts.blockSize < page || opts.blockSize % kRxFrameSize != 0 ||
      opts.blockCount == 0 || opts.blockCount > 4096) {
    throw SysError("setsockopt(PACKET_RX_RING) block size/count", EINVAL);
  }
  if (opts.txRing && (opts.txFrameSize % TPACKET_ALIGNMENT != 0 || opts.txFrameSize < kTxDataOffset + 64 ||
                      opts.txFrameSize > kTxBlockSize || opts.txFrameCount == 0 || opts.txFrameCount > 1 << 20)) {
    throw SysError("setsockopt(PACKET_TX_RING) frame size/count", EINVAL);
  }

  fd_ = OpenPacketSocket(opts.netns);
  try {
    // Interface ioctls on this socket resolve names in the socket's namespace, not the thread's.
    ifreq ifr{};
    std::memcpy(ifr.ifr_name, opts.ifname.c_str(), opts.ifname.size());
    if (ioctl(fd_, SIOCGIFINDEX, &ifr) != 0) throw SysError("ioctl(SIOCGIFINDEX " + opts.ifname + ")", errno);
    ifindex_ = ifr.ifr_ifindex;
    if (ioctl(fd_, SIOCGIFHWADDR, &ifr) != 0) throw SysError("ioctl(SIOCGIFHWADDR)", errno);
    for (int i = 0; i < 6; i++) mac_ = (mac_ << 8) | static_cast<uint8_t>(ifr.ifr_hwaddr.sa_data[i]);
    if (ioctl(fd_, SIOCGIFMTU, &ifr) != 0) throw SysError("ioctl(SIOCGIFMTU)", errno);
    mtu_ = static_cast<uint32_t>(ifr.ifr_mtu);

    SetIntOption(fd_, PACKET_VERSION, TPACKET_V3, "PACKET_VERSION");
    // Without PACKET_LOSS one malformed frame would stall the TX ring for good; the kernel
    // accepts it only before any ring exists.
    if (opts.txRing) SetIntOption(fd_, PACKET_LOSS, 1, "PACKET_LOSS");
    tpacket_req3 rx{};
    rx.tp_block_size = opts.blockSize;
    rx.tp_block_nr = opts.blockCount;
    rx.tp_frame_size = kRxFrameSize;
    rx.tp_frame_nr = (opts.blockSize / kRxFrameSize) * opts.blockCount;
    rx.tp_retire_blk_tov = std::max<uint32_t>(1, opts.blockTimeoutMs);
    SetOption(fd_, SOL_PACKET, PACKET_RX_RING, &rx, sizeof(rx), "PACKET_RX_RING");
    blockSize_ = opts.blockSize;
    blockCount_ = opts.blockCount;
    size_t rxBytes = static_cast<size_t>(blockSize_) * blockCount_;

    size_t txBytes = 0;
    if (opts.txRing) {
      const uint32_t perBlock = kTxBlockSize / opts.txFrameSize;
      const uint32_t blocks = (opts.txFrameCount + perBlock - 1) / perBlock;
      tpacket_req3 tx{};
      tx.tp_block_size = kTxBlockSize;
      tx.tp_block_nr = blocks;
      tx.tp_frame_size = opts.txFrameSize;
      tx.tp_frame_nr = blocks * perBlock;
      SetOption(fd_, SOL_PACKET, PACKET_TX_RING, &tx, sizeof(tx), "PACKET_TX_RING");
      txRing_ = true;
      txFrameSize_ = opts.txFrameSize;
      txFrameCount_ = tx.tp_frame_nr;
      txBytes = static_cast<size_t>(kTxBlockSize) * blocks;
    }
    if (opts.qdiscBypass) SetIntOption(fd_, PACKET_QDISC_BYPASS, 1, "PACKET_QDISC_BYPASS");

    void* map = mmap(nullptr, rxBytes + txBytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd_, 0);
    if (map == MAP_FAILED) throw SysError("mmap(ring)", errno);
    map_ = static_cast<uint8_t*>(map);
    mapLength_ = rxBytes + txBytes;
    if (txRing_) tx_ = map_ + rxBytes;

    if (opts.promiscuous) {
      packet_mreq mreq{};
      mreq.mr_ifindex = ifindex_;
      mreq.mr_type = PACKET_MR_PROMISC;
      SetOption(fd_, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mreq, sizeof(mreq), "PACKET_ADD_MEMBERSHIP");
    }
    if (opts.ignoreOutgoing) SetIntOption(fd_, PACKET_IGNORE_OUTGOING, 1, "PACKET_IGNORE_OUTGOING");

    // Bound last: the socket was created with protocol 0, so nothing arrives before the ring exists.
    sockaddr_ll addr{};
    addr.sll_family = AF_PACKET;
    addr.sll_protocol = htons(ETH_P_ALL);
    addr.sll_ifindex = ifindex_;
    if (bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) throw SysError("bind", errno);
  } catch (...) {
    Close();
    throw;
  }
}

PacketSocket::~PacketSocket() { Close(); }

void PacketSocket::Close() {
  if (map_ != nullptr) munmap(map_, mapLength_);
  map_ = nullptr;
  tx_ = nullptr;
  nextFrame_ = nullptr;
  blockOpen_ = false;
  framesLeft_ = 0;
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

uint32_t PacketSocket::maxSendLength() const {
  // sendmmsg: the kernel allows the MTU plus the Ethernet header and one VLAN tag.
  return txRing_ ? static_cast<uint32_t>(txFrameSize_ - kTxDataOffset) : mtu_ + 18;
}

void PacketSocket::ReleaseBlock() {
  auto* desc = reinterpret_cast<tpacket_block_desc*>(map_ + static_cast<size_t>(block_) * blockSize_);
  __atomic_store_n(&desc->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
  blockOpen_ = false;
  nextFrame_ = nullptr;
  block_ = (block_ + 1) % blockCount_;
}

uint32_t PacketSocket::ReadBatch(const BatchOut& out) {
  if (map_ == nullptr) return 0;
  uint32_t n = 0;
  size_t used = 0;
  while (n < out.maxFrames) {
    if (!blockOpen_) {
      auto* desc = reinterpret_cast<tpacket_block_desc*>(map_ + static_cast<size_t>(block_) * blockSize_);
      if ((__atomic_load_n(&desc->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER) == 0) break;
      blockOpen_ = true;
      framesLeft_ = desc->hdr.bh1.num_pkts;
      nextFrame_ = reinterpret_cast<uint8_t*>(desc) + desc->hdr.bh1.offset_to_first_pkt;
      if (framesLeft_ == 0) {
        ReleaseBlock();
        continue;
      }
    }
    auto* hdr = reinterpret_cast<tpacket3_hdr*>(nextFrame_);
    const uint8_t* src = nextFrame_ + hdr->tp_mac;
    const uint32_t snap = hdr->tp_snaplen;
    const bool vlan = (hdr->tp_status & TP_STATUS_VLAN_VALID) != 0 && snap >= kEthAddrsLen;
    const size_t len = snap + (vlan ? 4 : 0);
    if (used + len > out.capacity) break;  // the next call starts the batch with this frame
    uint8_t* dst = out.data + used;
    uint8_t flags = 0;
    if (vlan) {
      // The kernel moves the outer tag into metadata before packet taps see the frame.
      const uint16_t tpid = (hdr->tp_status & TP_STATUS_VLAN_TPID_VALID) != 0 && hdr->hv1.tp_vlan_tpid != 0
                                ? hdr->hv1.tp_vlan_tpid
                                : ETH_P_8021Q;
      const uint16_t tci = hdr->hv1.tp_vlan_tci;
      std::memcpy(dst, src, kEthAddrsLen);
      dst[12] = static_cast<uint8_t>(tpid >> 8);
      dst[13] = static_cast<uint8_t>(tpid);
      dst[14] = static_cast<uint8_t>(tci >> 8);
      dst[15] = static_cast<uint8_t>(tci);
      std::memcpy(dst + 16, src + kEthAddrsLen, snap - kEthAddrsLen);
      flags |= FRAME_VLAN_RESTORED;
    } else {
      std::memcpy(dst, src, snap);
    }
    if (snap < hdr->tp_len) {
      flags |= FRAME_TRUNCATED;
      truncated_++;
    }
    if ((hdr->tp_status & TP_STATUS_CSUMNOTREADY) != 0) flags |= FRAME_CSUM_NOT_READY;
    if ((hdr->tp_status & TP_STATUS_CSUM_VALID) != 0) flags |= FRAME_CSUM_VALID;
    out.offsets[n] = static_cast<uint32_t>(used);
    out.lengths[n] = static_cast<uint32_t>(len);
    out.flags[n] = flags;
    used += len;
    n++;
    if (--framesLeft_ == 0) {
      ReleaseBlock();  // hand the block back as soon as it is copied out
    } else {
      nextFrame_ += hdr->tp_next_offset;
    }
  }
  return n;
}

SendResult PacketSocket::Send(const iovec* frames, uint32_t count) {
  if (fd_ < 0) throw SysError("send", EBADF);
  return txRing_ ? SendRing(frames, count) : SendMmsg(frames, count);
}

SendResult PacketSocket::SendRing(const iovec* frames, uint32_t count) {
  SendResult r;
  const uint32_t perBlock = kTxBlockSize / txFrameSize_;
  const size_t maxLen = maxSendLength();
  auto slot = [&](uint32_t i) {
    return reinterpret_cast<tpacket3_hdr*>(tx_ + static_cast<size_t>(i / perBlock) * kTxBlockSize +
                                           static_cast<size_t>(i % perBlock) * txFrameSize_);
  };
  // The kernel walks the ring from its own head while frames say SEND_REQUEST.
  auto flush = [&]() -> int {
    for (int attempt = 0; attempt < 4; attempt++) {
      if (sendto(fd_, nullptr, 0, MSG_DONTWAIT, nullptr, 0) >= 0) return 0;
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == ENOBUFS) {
        r.failed++;  // the device refused one frame; the kernel keeps the rest queued
        continue;
      }
      return errno;
    }
    return 0;
  };
  uint32_t queued = 0;
  for (uint32_t i = 0; i < count; i++) {
    const size_t len = frames[i].iov_len;
    if (len < ETH_HLEN || len > maxLen) {
      r.failed++;
      continue;
    }
    tpacket3_hdr* hdr = slot(txHead_);
    if (__atomic_load_n(&hdr->tp_status, __ATOMIC_ACQUIRE) != TP_STATUS_AVAILABLE) {
      if (queued > 0) {
        if (int e = flush()) throw SysError("send(PACKET_TX_RING)", e);
        queued = 0;
      }
      if (__atomic_load_n(&hdr->tp_status, __ATOMIC_ACQUIRE) != TP_STATUS_AVAILABLE) {
        r.failed += count - i;  // every slot is still in flight: drop rather than wait
        break;
      }
    }
    std::memcpy(reinterpret_cast<uint8_t*>(hdr) + kTxDataOffset, frames[i].iov_base, len);
    hdr->tp_len = static_cast<uint32_t>(len);
    hdr->tp_snaplen = static_cast<uint32_t>(len);
    __atomic_store_n(&hdr->tp_status, TP_STATUS_SEND_REQUEST, __ATOMIC_RELEASE);
    txHead_ = (txHead_ + 1) % txFrameCount_;
    queued++;
    r.sent++;
  }
  if (queued > 0) {
    if (int e = flush()) throw SysError("send(PACKET_TX_RING)", e);
  }
  return r;
}

SendResult PacketSocket::SendMmsg(const iovec* frames, uint32_t count) {
  SendResult r;
  if (msgs_.size() < std::min(count, kMmsgChunk)) msgs_.resize(std::min(count, kMmsgChunk));
  uint32_t i = 0;
  while (i < count) {
    const uint32_t n = std::min(count - i, kMmsgChunk);
    for (uint32_t k = 0; k < n; k++) {
      msghdr& h = msgs_[k].msg_hdr;
      std::memset(&h, 0, sizeof(h));
      h.msg_iov = const_cast<iovec*>(&frames[i + k]);
      h.msg_iovlen = 1;
    }
    const int sent = sendmmsg(fd_, msgs_.data(), n, MSG_DONTWAIT);
    if (sent > 0) {
      r.sent += static_cast<uint32_t>(sent);
      i += static_cast<uint32_t>(sent);
      continue;
    }
    const int e = errno;
    if (e == EINTR) continue;
    if (e == EMSGSIZE || e == EINVAL) {  // this frame is too long or too short: skip it
      r.failed++;
      i++;
      continue;
    }
    if (e == EAGAIN || e == ENOBUFS) {
      r.failed += count - i;
      break;
    }
    throw SysError("sendmmsg", e);
  }
  return r;
}

KernelStats PacketSocket::Stats() {
  if (fd_ < 0) return stats_;
  tpacket_stats_v3 st{};
  socklen_t len = sizeof(st);
  if (getsockopt(fd_, SOL_PACKET, PACKET_STATISTICS, &st, &len) != 0) throw SysError("getsockopt(PACKET_STATISTICS)", errno);
  stats_.packets += st.tp_packets;  // already includes tp_drops
  stats_.drops += st.tp_drops;
  stats_.freezes += st.tp_freeze_q_cnt;
  return stats_;
}

int PacketSocket::TakeError() {
  if (fd_ < 0) return 0;
  int err = 0;
  socklen_t len = sizeof(err);
  if (getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return errno;
  return err;
}

}  // namespace tollgate
