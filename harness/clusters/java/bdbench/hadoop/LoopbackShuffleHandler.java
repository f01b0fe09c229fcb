package bdbench.hadoop;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.nio.NioEventLoopGroup;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.util.concurrent.DefaultThreadFactory;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.mapred.ShuffleChannelHandlerContext;
import org.apache.hadoop.mapred.ShuffleChannelInitializer;
import org.apache.hadoop.mapred.ShuffleHandler;
import org.apache.hadoop.mapreduce.MRConfig;
import org.apache.hadoop.mapreduce.security.token.JobTokenSecretManager;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The MapReduce shuffle service ({@code mapreduce_shuffle}) listening on one address instead of
 * every interface.
 *
 * <p>Hadoop 3.4's {@link ShuffleHandler} binds {@code new InetSocketAddress(port)}, the wildcard
 * address, and no setting changes that. This subclass keeps all of the shuffle itself (the
 * handler context, the channel initializer and its request handling, the job-token checks, the
 * metrics) and replaces only the start-up that opens the listening socket, which binds
 * {@code bdbench.shuffle.bind-host} (default 127.0.0.1) instead.
 *
 * <p>Two features of the parent's start-up are refused rather than half-supported: NodeManager
 * recovery (the parent's state database is private) and encrypted shuffle (SSL). A bdbench
 * cluster enables neither.
 */
public class LoopbackShuffleHandler extends ShuffleHandler {
  /** Address the shuffle server binds (an IP or a host name). */
  public static final String BIND_HOST_KEY = "bdbench.shuffle.bind-host";

  /** Where it binds when {@link #BIND_HOST_KEY} is unset. */
  public static final String DEFAULT_BIND_HOST = "127.0.0.1";

  private static final Logger LOG = LoggerFactory.getLogger(LoopbackShuffleHandler.class);

  private EventLoopGroup acceptors;
  private EventLoopGroup workers;
  private volatile int boundPort = -1;

  @Override
  protected void serviceStart() throws Exception {
    Configuration conf = getConfig();
    if (getRecoveryPath() != null) {
      throw new IllegalStateException(
          getClass().getSimpleName() + " does not support NodeManager recovery");
    }
    if (conf.getBoolean(MRConfig.SHUFFLE_SSL_ENABLED_KEY, MRConfig.SHUFFLE_SSL_ENABLED_DEFAULT)) {
      throw new IllegalStateException(
          getClass().getSimpleName() + " does not support encrypted shuffle");
    }
    // The parent's start-up creates these two before it builds the handler context, which
    // reads them; without recovery there is nothing to restore into them.
    userRsrc = new ConcurrentHashMap<>();
    secretManager = new JobTokenSecretManager();
    ShuffleChannelHandlerContext context = createHandlerContext();

    String host = conf.getTrimmed(BIND_HOST_KEY, DEFAULT_BIND_HOST);
    int port = conf.getInt(SHUFFLE_PORT_CONFIG_KEY, DEFAULT_SHUFFLE_PORT);
    // The parent's event loops are private; these are ours and stopped in serviceStop.
    // 0 worker threads lets Netty choose (2 x cores), as the parent does for its 0 default.
    acceptors = new NioEventLoopGroup(1, new DefaultThreadFactory("bdbench-shuffle-accept"));
    workers = new NioEventLoopGroup(
        conf.getInt(MAX_SHUFFLE_THREADS, DEFAULT_MAX_SHUFFLE_THREADS),
        new DefaultThreadFactory("bdbench-shuffle-worker"));
    Channel server = new ServerBootstrap()
        .group(acceptors, workers)
        .channel(NioServerSocketChannel.class)
        .option(ChannelOption.SO_BACKLOG,
            conf.getInt(SHUFFLE_LISTEN_QUEUE_SIZE, DEFAULT_SHUFFLE_LISTEN_QUEUE_SIZE))
        .childOption(ChannelOption.SO_KEEPALIVE, true)
        .childHandler(new ShuffleChannelInitializer(context, null))
        .bind(new InetSocketAddress(host, port))
        .sync()
        .channel();
    boundPort = ((InetSocketAddress) server.localAddress()).getPort();
    // allChannels is closed by the parent's serviceStop, which so closes this server too.
    allChannels.add(server);
    context.port = boundPort;
    // Port 0 asks for any free port: publish the real one, as the parent does.
    conf.set(SHUFFLE_PORT_CONFIG_KEY, Integer.toString(boundPort));
    LOG.info("{} listening on {}:{}", getName(), host, boundPort);
  }

  @Override
  public synchronized ByteBuffer getMetaData() {
    // The ApplicationMaster learns the shuffle port from this; the parent's own port field is
    // private and never set here, because the parent's start-up does not run.
    try {
      return serializeMetaData(boundPort);
    } catch (IOException e) {
      LOG.error("cannot serialize the shuffle port", e);
      return null;
    }
  }

  @Override
  protected void serviceStop() throws Exception {
    try {
      super.serviceStop();
    } finally {
      if (acceptors != null) {
        acceptors.shutdownGracefully();
      }
      if (workers != null) {
        workers.shutdownGracefully();
      }
    }
  }
}
