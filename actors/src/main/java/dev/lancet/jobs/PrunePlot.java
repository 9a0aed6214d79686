package dev.lancet.jobs;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.style.markers.SeriesMarkers;

/**
 * pruning.png: perplexity against the fraction removed, one point per shot: of the decoder linear weights, or of all
 * parameters for LLM-Pruner (the report's {@code target_of}).
 */
final class PrunePlot {

    private PrunePlot() {
    }

    private static String windows(JsonNode job) {
        int windows = job.get("eval_windows").asInt();
        return (windows == 0 ? "all" : windows) + " windows of " + job.get("eval_seqlen").asInt();
    }

    static void write(JsonNode report, Path file) throws IOException {
        System.setProperty("java.awt.headless", "true");
        List<Double> sparsity = new ArrayList<>(List.of(0.0));
        List<Double> perplexity = new ArrayList<>(List.of(report.get("dense_shot_perplexity").asDouble()));
        for (JsonNode shot : report.get("shots")) {
            sparsity.add(100 * shot.get("achieved").asDouble());
            perplexity.add(shot.get("perplexity").asDouble());
        }
        JsonNode job = report.get("job");
        XYChart chart = new XYChartBuilder().width(720).height(480)
                .title(job.get("method").asText().toLowerCase() + ", " + job.get("structure").asText().toLowerCase()
                        + ", " + job.get("shots").asInt() + " shots (" + windows(job) + ")")
                .xAxisTitle(report.path("target_of").asText("decoder linear weights") + " removed (%)")
                .yAxisTitle("perplexity").build();
        chart.getStyler().setLegendVisible(false);
        chart.addSeries("perplexity", sparsity, perplexity).setMarker(SeriesMarkers.CIRCLE);
        Path temp = file.resolveSibling("." + file.getFileName() + ".tmp.png");
        BitmapEncoder.saveBitmap(chart, temp.toString(), BitmapEncoder.BitmapFormat.PNG);
        Files.move(temp, file, java.nio.file.StandardCopyOption.ATOMIC_MOVE,
                java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    }
}
