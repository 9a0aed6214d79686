// CPU and wall time of the default prune job's phases on tiny-llama, in one JVM: tokenizing the evaluation file,
// evaluating windows, and calibration steps (forward + backward) with their KFAC folds timed apart.
//   java -Xss16m -cp "engine/target/classes:$(cat actors/target/classpath.txt)" bench/PhaseProbe.java [reps]
// Run it with the launcher's environment (OMP_WAIT_POLICY=PASSIVE OPENBLAS_THREAD_TIMEOUT=4
// GLIBC_TUNABLES=glibc.malloc.hugetlb=1). CPU time is the process's (all threads), so it is comparable between
// builds on a loaded machine where wall time is not. Prints one JSON line per phase and repetition, then the
// evaluation's summed NLL and the factors' checksum (equal across builds when the arithmetic is the same).
import dev.lancet.engine.curvature.KfacState;
import dev.lancet.engine.curvature.Precision;
import dev.lancet.engine.eval.Perplexity;
import dev.lancet.engine.linalg.Workspaces;
import dev.lancet.engine.model.Checkpoint;
import dev.lancet.engine.model.TokenBatch;
import dev.lancet.engine.model.Transformer;
import dev.lancet.engine.nn.Backprop;
import dev.lancet.engine.text.CalibrationSource;
import dev.lancet.engine.text.Tokenizer;
import dev.lancet.engine.text.Windows;
import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.util.List;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.memory.MemoryWorkspace;

public class PhaseProbe {
    private static final com.sun.management.OperatingSystemMXBean OS =
            (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();

    public static void main(String[] args) throws Exception {
        int reps = args.length > 0 ? Integer.parseInt(args[0]) : 3;
        Path model = Path.of("assets/models/tiny-llama");
        try (Checkpoint checkpoint = Checkpoint.open(model); Tokenizer tokenizer = Tokenizer.load(checkpoint.tokenizerFile());
             Transformer transformer = Transformer.load(checkpoint, DataType.FLOAT)) {
            Windows all = null;
            for (int r = 0; r < reps; r++) {
                long[] t = start();
                all = Windows.read(tokenizer, Path.of("assets/data/brown/brown.valid.txt"), 128, 0);
                report("tokenize", r, t);
            }
            Windows windows = Windows.of(all.tokens(), 128, 256);
            double nll = 0;
            for (int r = 0; r < reps; r++) {
                long[] t = start();
                nll = Perplexity.evaluate(transformer, windows, 8).nllSum();
                report("evaluate 256 windows", r, t);
            }
            CalibrationSource source = CalibrationSource.of(tokenizer,
                    List.of(Path.of("assets/data/brown/brown.calibration.txt")), 128, 128,
                    CalibrationSource.Sampling.RANDOM, 0);
            double checksum = 0;
            for (int r = 0; r < reps; r++) {
                try (KfacState state = KfacState.empty(transformer.layout())) {
                    long[] folds = {0, 0};
                    long[] t = start();
                    for (int b = 0; b < source.batches(8); b++) {
                        TokenBatch batch = source.batch(b, 8);
                        transformer.lossAndBackward(batch, new Backprop(false, (layer, a, g) -> {
                            long cpu = OS.getProcessCpuTime();
                            long wall = System.nanoTime();
                            try (MemoryWorkspace ignored = Workspaces.open(Workspaces.FOLD)) {
                                state.get(layer.name()).add(a, g, Precision.FP32);
                            }
                            folds[0] += OS.getProcessCpuTime() - cpu;
                            folds[1] += System.nanoTime() - wall;
                        }, batch.labelledRows()));
                    }
                    report("calibrate 128 windows", r, t);
                    System.out.printf("{\"phase\":\"of which folds\",\"rep\":%d,\"cpu_s\":%.3f,\"wall_s\":%.3f}%n", r,
                            folds[0] / 1e9, folds[1] / 1e9);
                    checksum = state.factors().stream().mapToDouble(f -> f.sumA().sumNumber().doubleValue()
                            + f.sumG().sumNumber().doubleValue()).sum();
                }
            }
            System.out.printf("{\"nll_sum\":%.17g,\"factor_checksum\":%.17g}%n", nll, checksum);
        }
    }

    private static long[] start() {
        return new long[] {OS.getProcessCpuTime(), System.nanoTime()};
    }

    private static void report(String phase, int rep, long[] start) {
        System.out.printf("{\"phase\":\"%s\",\"rep\":%d,\"cpu_s\":%.3f,\"wall_s\":%.3f}%n", phase, rep,
                (OS.getProcessCpuTime() - start[0]) / 1e9, (System.nanoTime() - start[1]) / 1e9);
    }
}
