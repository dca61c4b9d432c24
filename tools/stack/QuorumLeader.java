// Prints the node id of the KRaft quorum's leader (the active controller), asked through Kafka's
// own Admin client (DescribeQuorum). Run from source by tools/stack/cluster.py:
//   java -cp '<kafka libs>/*' tools/stack/QuorumLeader.java <client.properties>
import java.io.FileReader;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;

public class QuorumLeader {
    public static void main(String[] args) throws Exception {
        Properties properties = new Properties();
        try (FileReader reader = new FileReader(args[0])) {
            properties.load(reader);
        }
        try (Admin admin = Admin.create(properties)) {
            System.out.println(admin.describeMetadataQuorum().quorumInfo().get(60, TimeUnit.SECONDS).leaderId());
        }
    }
}
