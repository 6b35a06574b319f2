/*
 * Java Paimon 0.9's streaming and incremental reads for tools/oracle/java_stream.py (compiled by
 * that script into $SHOAL_ORACLE_HOME/stream-classes, apart from the shared classes/ folder).
 * Rows come back as JSON lines with the row kind in "_ROW_KIND".
 */
package shoal.oraclestream;

import org.apache.paimon.data.InternalRow;
import org.apache.paimon.reader.RecordReader;
import org.apache.paimon.shade.jackson2.com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.paimon.shade.jackson2.com.fasterxml.jackson.databind.node.ObjectNode;
import org.apache.paimon.table.FileStoreTable;
import org.apache.paimon.table.source.ReadBuilder;
import org.apache.paimon.table.source.Split;
import org.apache.paimon.table.source.StreamTableScan;
import org.apache.paimon.types.DataField;
import org.apache.paimon.types.RowType;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

public class ShoalStream {

    private static final ObjectMapper MAPPER = new ObjectMapper();

    /** Reads splits into JSON lines: {"_ROW_KIND": "+I", column: value, ...}. */
    public static String read(ReadBuilder rb, List<Split> splits) throws Exception {
        RowType type = rb.readType();
        List<DataField> fields = type.getFields();
        List<InternalRow.FieldGetter> getters = new ArrayList<>();
        for (int i = 0; i < fields.size(); i++) {
            getters.add(InternalRow.createFieldGetter(fields.get(i).type(), i));
        }
        StringBuilder out = new StringBuilder();
        try (RecordReader<InternalRow> reader = rb.newRead().createReader(splits)) {
            reader.forEachRemaining(
                    row -> {
                        ObjectNode n = MAPPER.createObjectNode();
                        n.put("_ROW_KIND", row.getRowKind().shortString());
                        for (int i = 0; i < fields.size(); i++) {
                            Object v = getters.get(i).getFieldOrNull(row);
                            String name = fields.get(i).name();
                            if (v == null) {
                                n.putNull(name);
                            } else if (v instanceof Long) {
                                n.put(name, (Long) v);
                            } else if (v instanceof Integer) {
                                n.put(name, (Integer) v);
                            } else {
                                n.put(name, v.toString());
                            }
                        }
                        out.append(n.toString()).append('\n');
                    });
        }
        return out.toString();
    }

    /**
     * A streaming read of table.copy(options): plans until a plan without splits follows one
     * with splits (or maxPlans plans), reading each plan.
     */
    public static String stream(FileStoreTable table, Map<String, String> options, int maxPlans)
            throws Exception {
        ReadBuilder rb = table.copy(options).newReadBuilder();
        StreamTableScan scan = rb.newStreamScan();
        StringBuilder out = new StringBuilder();
        boolean seen = false;
        for (int i = 0; i < maxPlans; i++) {
            List<Split> splits = scan.plan().splits();
            if (splits.isEmpty()) {
                if (seen) {
                    break;
                }
                continue;
            }
            seen = true;
            out.append(read(rb, splits));
        }
        return out.toString();
    }

    /** A batch read of table.copy(options) (e.g. incremental-between). */
    public static String batch(FileStoreTable table, Map<String, String> options) throws Exception {
        ReadBuilder rb = table.copy(options).newReadBuilder();
        return read(rb, rb.newScan().plan().splits());
    }
}
