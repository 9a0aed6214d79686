// Evaluation of 512 windows and calibration of 128 windows (forward + backward + KFAC folds) of tiny-llama, run
// side by side on THREADS threads with OpenBLAS on BLAS threads per call: the "Side by side" figures of BENCHMARKS.md.
//   java -Xss16m -cp "engine/target/classes:$(cat actors/target/classpath.txt)" bench/SideBySideProbe.java THREADS BLAS
// with the launcher's environment (OMP_WAIT_POLICY=PASSIVE OPENBLAS_THREAD_TIMEOUT=4 GLIBC_TUNABLES=glibc.malloc.hugetlb=1).
// Prints CPU and wall seconds of three repetitions of each, and the evaluation's summed NLL.
import dev.lancet.engine.curvature.KfacState;
import dev.lancet.engine.curvature.Precision;
import dev.lancet.engine.eval.Perplexity;
import dev.lancet.engine.linalg.Workspaces;
import dev.lancet.engine.model.*;
import dev.lancet.engine.nn.Backprop;
import dev.lancet.engine.text.*;
import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.util.*;
import java.util.concurrent.*;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.memory.MemoryWorkspace;

public class SideBySideProbe {
    static final com.sun.management.OperatingSystemMXBean OS = (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
    public static void main(String[] args) throws Exception {
        int threads = Integer.parseInt(args[0]); int blas = Integer.parseInt(args[1]);
        System.setProperty("lancet.blas.threads", String.valueOf(blas)); // read once, when Blas loads
        try (Checkpoint checkpoint = Checkpoint.open(Path.of("assets/models/tiny-llama")); Tokenizer tokenizer = Tokenizer.load(checkpoint.tokenizerFile());
             Transformer model = Transformer.load(checkpoint, DataType.FLOAT)) {
            Windows all = Windows.read(tokenizer, Path.of("assets/data/brown/brown.valid.txt"), 128, 0);
            Windows windows = Windows.of(all.tokens(), 128, 512);
            List<TokenBatch> batches = new ArrayList<>(); windows.batches(8).forEach(batches::add);
            ExecutorService pool = Executors.newFixedThreadPool(threads, r -> new Thread(null, r, "w", 16L << 20));
            for (int rep = 0; rep < 3; rep++) {
                long c = OS.getProcessCpuTime(), w = System.nanoTime();
                List<Future<Loss>> fs = new ArrayList<>();
                for (TokenBatch b : batches) fs.add(pool.submit(() -> model.loss(b)));
                Loss total = new Loss(0, 0);
                for (Future<Loss> f : fs) total = total.plus(f.get());
                System.out.printf("eval512 t=%d blas=%d cpu %.2f wall %.2f nll %.17g%n", threads, blas, (OS.getProcessCpuTime()-c)/1e9, (System.nanoTime()-w)/1e9, total.nllSum());
            }
            CalibrationSource source = CalibrationSource.of(tokenizer, List.of(Path.of("assets/data/brown/brown.calibration.txt")), 128, 128, CalibrationSource.Sampling.RANDOM, 0);
            for (int rep = 0; rep < 3; rep++) {
                KfacState[] states = new KfacState[threads];
                for (int i = 0; i < threads; i++) states[i] = KfacState.empty(model.layout());
                long c = OS.getProcessCpuTime(), w = System.nanoTime();
                List<Future<?>> fs = new ArrayList<>();
                for (int t = 0; t < threads; t++) { int tt = t; fs.add(pool.submit(() -> {
                    for (int b = tt; b < source.batches(8); b += threads) {
                        TokenBatch batch = source.batch(b, 8);
                        model.lossAndBackward(batch, new Backprop(false, (layer, a, g) -> {
                            try (MemoryWorkspace ignored = Workspaces.open(Workspaces.FOLD)) { states[tt].get(layer.name()).add(a, g, Precision.FP32); }
                        }, batch.labelledRows()));
                    }
                    return null; })); }
                for (Future<?> f : fs) f.get();
                System.out.printf("calib128 t=%d blas=%d cpu %.2f wall %.2f%n", threads, blas, (OS.getProcessCpuTime()-c)/1e9, (System.nanoTime()-w)/1e9);
                for (KfacState s : states) s.close();
            }
            pool.shutdown();
        }
    }
}
