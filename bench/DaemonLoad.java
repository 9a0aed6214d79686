// Load on a running `lancet daemon`: N clients, each on its own channel, alternately submitting a small pruning job
// and adding a small calibration batch for a bounded time; then every accepted job is waited for.
//   java -cp "actors/target/classes:$(cat actors/target/classpath.txt)" bench/DaemonLoad.java \
//       SERVER CLIENTS SECONDS MODEL_DIR TEXT_FILE OUT_ROOT
// Prints one JSON line: calls, accepted, rejected (by status), completed, failed, lost (accepted but unknown to the
// daemon, or never ended: must be 0) and p50/p99 latency in milliseconds of every call and of the accepted ones.
import dev.lancet.proto.daemon.AddDataRequest;
import dev.lancet.proto.daemon.JobRef;
import dev.lancet.proto.daemon.JobState;
import dev.lancet.proto.daemon.JobStatus;
import dev.lancet.proto.daemon.ListRequest;
import dev.lancet.proto.daemon.PruneRequest;
import dev.lancet.proto.daemon.PruningDaemonGrpc;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

public class DaemonLoad {
    public static void main(String[] args) throws Exception {
        String[] server = args[0].split(":");
        int clients = Integer.parseInt(args[1]);
        long deadline = System.nanoTime() + Long.parseLong(args[2]) * 1_000_000_000L;
        String model = args[3];
        String text = args[4];
        String outRoot = args[5];
        List<Double> latencies = Collections.synchronizedList(new ArrayList<>());
        List<Double> acceptedLatencies = Collections.synchronizedList(new ArrayList<>());
        Set<String> accepted = ConcurrentHashMap.newKeySet();
        Map<String, Integer> rejected = new ConcurrentHashMap<>();
        int[] batches = new int[1];
        List<Thread> threads = new ArrayList<>();
        for (int c = 0; c < clients; c++) {
            int client = c;
            Thread t = new Thread(() -> {
                ManagedChannel channel = Grpc.newChannelBuilderForAddress(server[0], Integer.parseInt(server[1]),
                        InsecureChannelCredentials.create()).build();
                var stub = PruningDaemonGrpc.newBlockingStub(channel);
                for (int i = 0; System.nanoTime() < deadline; i++) {
                    long start = System.nanoTime();
                    boolean ok = false;
                    try {
                        if (i % 2 == 0) {
                            JobStatus s = stub.withDeadlineAfter(600, TimeUnit.SECONDS).submit(PruneRequest.newBuilder()
                                    .setModel(model).addCalibration(text).setEval(text).setMethod("magnitude")
                                    .setStructure("unstructured").setTarget(0.5).setShots(1).setSamples(2).setSeqlen(32)
                                    .setEvalSeqlen(32).setEvalWindows(2).setOut(outRoot + "/c" + client + "-" + i).build());
                            accepted.add(s.getJob());
                            ok = true;
                        } else {
                            stub.withDeadlineAfter(600, TimeUnit.SECONDS).addData(AddDataRequest.newBuilder()
                                    .setModel(model).addCalibration(text).setSamples(2).setSeqlen(32).setSeed(i).build());
                            synchronized (batches) {
                                batches[0]++;
                            }
                            ok = true;
                        }
                    } catch (StatusRuntimeException e) {
                        rejected.merge(e.getStatus().getCode().name(), 1, Integer::sum);
                    }
                    double ms = (System.nanoTime() - start) / 1e6;
                    latencies.add(ms);
                    if (ok) {
                        acceptedLatencies.add(ms);
                    }
                }
                channel.shutdownNow();
            });
            t.start();
            threads.add(t);
        }
        for (Thread t : threads) {
            t.join();
        }
        ManagedChannel channel = Grpc.newChannelBuilderForAddress(server[0], Integer.parseInt(server[1]),
                InsecureChannelCredentials.create()).build();
        var stub = PruningDaemonGrpc.newBlockingStub(channel);
        Map<String, JobStatus> known = new TreeMap<>();
        stub.list(ListRequest.getDefaultInstance()).getJobsList().forEach(s -> known.put(s.getJob(), s));
        int completed = 0;
        int failed = 0;
        int lost = 0;
        for (String job : accepted) {
            if (!known.containsKey(job)) {
                lost++;
                continue;
            }
            JobStatus s = stub.withDeadlineAfter(900, TimeUnit.SECONDS).wait(JobRef.newBuilder().setJob(job).build());
            if (s.getState() == JobState.DONE) {
                completed++;
            } else {
                failed++;
            }
        }
        channel.shutdownNow();
        System.out.printf("{\"clients\":%d,\"calls\":%d,\"accepted\":%d,\"batches_added\":%d,\"rejected\":%s,"
                        + "\"completed\":%d,\"failed\":%d,\"lost\":%d,\"p50_ms\":%.1f,\"p99_ms\":%.1f,"
                        + "\"accepted_p50_ms\":%.1f,\"accepted_p99_ms\":%.1f}%n",
                clients, latencies.size(), accepted.size(), batches[0], new TreeMap<>(rejected).toString()
                        .replace("{", "{\"").replace("=", "\":").replace(", ", ",\""), completed, failed, lost,
                percentile(latencies, 0.5), percentile(latencies, 0.99), percentile(acceptedLatencies, 0.5),
                percentile(acceptedLatencies, 0.99));
    }

    private static double percentile(List<Double> values, double q) {
        List<Double> sorted = new ArrayList<>(values);
        Collections.sort(sorted);
        return sorted.isEmpty() ? Double.NaN : sorted.get((int) Math.max(0, Math.ceil(sorted.size() * q) - 1));
    }
}
