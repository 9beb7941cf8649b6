package sample

import (
	"fmt"
	"strings"
	"time"
)

// account is one simulated AWS account and the resources that live in it.
type account struct {
	id, name   string
	env        string // prod, staging, security
	buckets    []string
	tables     []string
	queues     []string
	functions  []string
	kmsKeys    []string
	instances  []string
	sgs        []string
	vpc        string
	subnets    []string
	volumes    []string
	snapshots  []string
	dbs        []string
	stacks     []string
	roles      []string
	users      []string
	ssmParams  []string
	secrets    []string
	trailName  string
	detectorID string
	cluster    string
	zoneID     string
	topics     []string
	repos      []string
	asgs       []string
	amis       []string
	ssoSuffix  map[string]string
	now        time.Time // time of the call being built, for timestamps
}

func (g *gen) newAccount(id, name, env string) *account {
	a := &account{id: id, name: name, env: env, ssoSuffix: map[string]string{}}
	p := "acme-" + env
	a.buckets = []string{p + "-artifacts", p + "-web-assets", p + "-data-lake", p + "-backups", p + "-access-logs"}
	a.tables = []string{env + "-orders", env + "-sessions", env + "-inventory"}
	a.queues = []string{env + "-order-events", env + "-email-outbox", env + "-image-jobs"}
	a.functions = []string{env + "-orders-api", env + "-image-resizer", env + "-billing-worker", env + "-nightly-report"}
	for range 3 {
		a.kmsKeys = append(a.kmsKeys, g.uuid())
	}
	for range 8 {
		a.instances = append(a.instances, "i-0"+g.hex(16))
	}
	for range 5 {
		a.sgs = append(a.sgs, "sg-0"+g.hex(16))
	}
	a.vpc = "vpc-0" + g.hex(16)
	for range 4 {
		a.subnets = append(a.subnets, "subnet-0"+g.hex(16))
	}
	for range 6 {
		a.volumes = append(a.volumes, "vol-0"+g.hex(16))
	}
	for range 6 {
		a.snapshots = append(a.snapshots, "snap-0"+g.hex(16))
	}
	for range 3 {
		a.amis = append(a.amis, "ami-0"+g.hex(16))
	}
	a.dbs = []string{env + "-orders-db", env + "-analytics-db"}
	a.stacks = []string{env + "-network", env + "-orders-service", env + "-image-pipeline", env + "-monitoring"}
	a.roles = []string{env + "-orders-api-role", env + "-image-resizer-role", env + "-billing-worker-role", "github-actions-deploy", "terraform-apply", "ecs-task-checkout"}
	a.users = []string{"svc-backup", "jenkins"}
	a.ssmParams = []string{"/" + env + "/orders/db-url", "/" + env + "/orders/feature-flags", "/" + env + "/billing/stripe-endpoint", "/" + env + "/shared/log-level"}
	a.secrets = []string{env + "/orders/db-password", env + "/billing/api-key"}
	a.trailName = "org-management-trail"
	a.detectorID = g.hex(32)
	a.cluster = env + "-apps"
	a.zoneID = "Z0" + randString(g.r, upperAlnum, 19)
	a.topics = []string{env + "-alerts", env + "-order-notifications"}
	a.repos = []string{"checkout", "orders-api", "image-resizer"}
	a.asgs = []string{env + "-web-asg", env + "-workers-asg"}
	return a
}

func (a *account) bucketHost(b, region string) string { return b + ".s3." + region + ".amazonaws.com" }

func (a *account) keyARN(region, id string) string {
	return fmt.Sprintf("arn:aws:kms:%s:%s:key/%s", region, a.id, id)
}

func (a *account) queueURL(region, q string) string {
	return fmt.Sprintf("https://sqs.%s.amazonaws.com/%s/%s", region, a.id, q)
}

func (a *account) fnARN(region, f string) string {
	return fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", region, a.id, f)
}

func (a *account) trailARN() string {
	return fmt.Sprintf("arn:aws:cloudtrail:us-east-1:%s:trail/%s", a.id, a.trailName)
}

const s3xmlns = "http://s3.amazonaws.com/doc/2006-03-01/"

func s3Extra(in, out int) Object {
	return obj("SignatureVersion", "SigV4", "CipherSuite", "TLS_AES_128_GCM_SHA256",
		"bytesTransferredIn", in, "AuthenticationMethod", "AuthHeader", "bytesTransferredOut", out)
}

func items(xs ...any) Object { return obj("items", xs) }

// params builds plausible requestParameters, responseElements, resources and
// additionalEventData for a successful call.
func (g *gen) params(c *caller, a api, region string) (req, resp Object, res []Resource, extra Object) {
	ac := c.acct
	r := g.r
	now := ac.now
	rid := func() string { return g.uuid() }
	switch a.svc {
	case "ec2":
		return g.ec2Params(c, a, region)
	case "iam":
		return g.iamParams(c, a)
	case "s3":
		b := pick(r, ac.buckets)
		host := ac.bucketHost(b, region)
		switch a.name {
		case "ListBuckets":
			return obj("Host", "s3."+region+".amazonaws.com"), nil, nil, s3Extra(0, 2000+r.IntN(4000))
		case "GetObject", "PutObject":
			key := fmt.Sprintf("%s/%s/%s.json", pick(r, []string{"exports", "uploads", "reports", "images"}), now.Format("2006/01/02"), g.hex(12))
			res = []Resource{{Type: "AWS::S3::Object", ARN: "arn:aws:s3:::" + b + "/" + key}, {AccountID: ac.id, Type: "AWS::S3::Bucket", ARN: "arn:aws:s3:::" + b}}
			if a.name == "PutObject" {
				return obj("bucketName", b, "Host", host, "key", key), obj("x-amz-server-side-encryption", "aws:kms", "x-amz-server-side-encryption-aws-kms-key-id", ac.keyARN(region, ac.kmsKeys[0])), res, s3Extra(500+r.IntN(50000), 0)
			}
			return obj("bucketName", b, "Host", host, "key", key), nil, res, s3Extra(0, 500+r.IntN(50000))
		case "PutBucketTagging":
			return obj("bucketName", b, "Host", host, "tagging", "", "Tagging", obj("xmlns", s3xmlns, "TagSet", obj("Tag", []Object{obj("Value", "platform", "Key", "team"), obj("Value", ac.env, "Key", "env")}))), nil, []Resource{{AccountID: ac.id, Type: "AWS::S3::Bucket", ARN: "arn:aws:s3:::" + b}}, s3Extra(310, 0)
		case "PutBucketVersioning":
			return obj("bucketName", b, "Host", host, "versioning", "", "VersioningConfiguration", obj("Status", "Enabled", "xmlns", s3xmlns)), nil, []Resource{{AccountID: ac.id, Type: "AWS::S3::Bucket", ARN: "arn:aws:s3:::" + b}}, s3Extra(124, 0)
		case "CreateBucket":
			nb := fmt.Sprintf("acme-%s-tmp-%s", ac.env, g.hex(6))
			return obj("CreateBucketConfiguration", obj("LocationConstraint", region, "xmlns", s3xmlns), "bucketName", nb, "Host", ac.bucketHost(nb, region)), nil, []Resource{{AccountID: ac.id, Type: "AWS::S3::Bucket", ARN: "arn:aws:s3:::" + nb}}, s3Extra(153, 0)
		case "PutBucketAcl":
			return obj("bucketName", b, "Host", host, "acl", "", "x-amz-acl", []string{"private"}), nil, []Resource{{AccountID: ac.id, Type: "AWS::S3::Bucket", ARN: "arn:aws:s3:::" + b}}, s3Extra(0, 0)
		case "PutBucketEncryption":
			return obj("bucketName", b, "Host", host, "encryption", "", "ServerSideEncryptionConfiguration", obj("xmlns", s3xmlns, "Rule", obj("ApplyServerSideEncryptionByDefault", obj("SSEAlgorithm", "aws:kms", "KMSMasterKeyID", ac.keyARN(region, ac.kmsKeys[0])), "BucketKeyEnabled", true))), nil, []Resource{{AccountID: ac.id, Type: "AWS::S3::Bucket", ARN: "arn:aws:s3:::" + b}}, s3Extra(321, 0)
		}
		sub := strings.ToLower(strings.TrimPrefix(strings.TrimPrefix(a.name, "Get"), "Put"))
		sub = strings.TrimPrefix(sub, "bucket")
		return obj("bucketName", b, "Host", host, sub, ""), nil, []Resource{{AccountID: ac.id, Type: "AWS::S3::Bucket", ARN: "arn:aws:s3:::" + b}}, s3Extra(0, 100+r.IntN(900))
	case "cloudtrail":
		switch a.name {
		case "DescribeTrails":
			return obj("trailNameList", []string{}, "includeShadowTrails", true), nil, nil, nil
		case "GetTrailStatus", "StopLogging", "DeleteTrail", "StartLogging":
			return obj("name", ac.trailARN()), nil, nil, nil
		case "GetEventSelectors":
			return obj("trailName", ac.trailName), nil, nil, nil
		case "LookupEvents":
			return obj("startTime", now.Add(-24*time.Hour).Format(iamDate), "endTime", now.Format(iamDate), "maxResults", 50), nil, nil, nil
		case "UpdateTrail":
			return obj("name", ac.trailName, "isMultiRegionTrail", true), obj("name", ac.trailName, "trailARN", ac.trailARN(), "isMultiRegionTrail", true, "isOrganizationTrail", false), nil, nil
		}
		return nil, nil, nil, nil
	case "guardduty":
		switch a.name {
		case "ListDetectors":
			return nil, nil, nil, nil
		case "ListFindings":
			return obj("detectorId", ac.detectorID, "findingCriteria", obj("criterion", obj("service.archived", obj("eq", []string{"false"}))), "maxResults", 50), nil, nil, nil
		case "GetFindings", "ArchiveFindings":
			return obj("detectorId", ac.detectorID, "findingIds", []string{g.hex(32), g.hex(32)}), nil, nil, nil
		}
		return obj("detectorId", ac.detectorID), nil, nil, nil
	case "kms":
		k := pick(r, ac.kmsKeys)
		res = []Resource{{AccountID: ac.id, Type: "AWS::KMS::Key", ARN: ac.keyARN(region, k)}}
		switch a.name {
		case "Decrypt":
			return obj("encryptionAlgorithm", "SYMMETRIC_DEFAULT"), nil, res, nil
		case "GenerateDataKey":
			return obj("keyId", ac.keyARN(region, k), "keySpec", "AES_256"), nil, res, nil
		case "Encrypt":
			return obj("keyId", "alias/"+ac.env+"-app", "encryptionAlgorithm", "SYMMETRIC_DEFAULT"), nil, res, nil
		case "ListAliases", "ListKeys":
			return nil, nil, nil, nil
		case "GetKeyPolicy":
			return obj("keyId", k, "policyName", "default"), nil, res, nil
		case "ScheduleKeyDeletion":
			return obj("keyId", k, "pendingWindowInDays", 7), obj("keyId", ac.keyARN(region, k), "deletionDate", now.Add(7*24*time.Hour).Format(iamDate), "keyState", "PendingDeletion", "pendingWindowInDays", 7), res, nil
		case "CreateGrant":
			return obj("keyId", ac.keyARN(region, k), "granteePrincipal", "autoscaling.amazonaws.com", "operations", []string{"Decrypt", "GenerateDataKeyWithoutPlaintext"}), obj("grantId", g.hex(64), "keyId", ac.keyARN(region, k)), res, nil
		}
		return obj("keyId", k), nil, res, nil
	case "sts":
		switch a.name {
		case "GetCallerIdentity", "GetSessionToken":
			return nil, nil, nil, nil
		case "AssumeRole":
			role := pick(r, ac.roles)
			sess := "session-" + g.hex(8)
			return obj("roleArn", "arn:aws:iam::"+ac.id+":role/"+role, "roleSessionName", sess, "durationSeconds", 3600),
				g.credentials(ac, role, sess, now), []Resource{{AccountID: ac.id, Type: "AWS::IAM::Role", ARN: "arn:aws:iam::" + ac.id + ":role/" + role}}, nil
		}
		return nil, nil, nil, nil
	case "dynamodb":
		t := pick(r, ac.tables)
		res = []Resource{{AccountID: ac.id, Type: "AWS::DynamoDB::Table", ARN: fmt.Sprintf("arn:aws:dynamodb:%s:%s:table/%s", region, ac.id, t)}}
		hidden := "HIDDEN_DUE_TO_SECURITY_REASONS"
		switch a.name {
		case "ListTables":
			return nil, nil, nil, nil
		case "PutItem":
			return obj("tableName", t, "key", obj("pk", hidden, "sk", hidden), "item", []string{"pk", "sk", "status", "updatedAt"}), nil, res, nil
		case "UpdateItem":
			return obj("tableName", t, "key", obj("pk", hidden, "sk", hidden), "updateExpression", hidden, "expressionAttributeValues", hidden), nil, res, nil
		case "GetItem":
			return obj("tableName", t, "key", obj("pk", hidden, "sk", hidden), "consistentRead", false), nil, res, nil
		case "Query":
			return obj("tableName", t, "keyConditionExpression", hidden, "expressionAttributeValues", hidden, "limit", 25), nil, res, nil
		case "UpdateTimeToLive":
			return obj("tableName", t, "timeToLiveSpecification", obj("enabled", true, "attributeName", "expiresAt")), obj("timeToLiveSpecification", obj("enabled", true, "attributeName", "expiresAt")), res, nil
		}
		return obj("tableName", t), nil, res, nil
	case "sqs":
		q := pick(r, ac.queues)
		res = []Resource{{AccountID: ac.id, Type: "AWS::SQS::Queue", ARN: fmt.Sprintf("arn:aws:sqs:%s:%s:%s", region, ac.id, q)}}
		switch a.name {
		case "ListQueues":
			return nil, nil, nil, nil
		case "SendMessage":
			return obj("queueUrl", ac.queueURL(region, q), "messageBody", "HIDDEN_DUE_TO_SECURITY_REASONS"), obj("mD5OfMessageBody", g.hex(32), "messageId", g.uuid()), res, nil
		case "GetQueueAttributes":
			return obj("queueUrl", ac.queueURL(region, q), "attributeNames", []string{"All"}), nil, res, nil
		case "SetQueueAttributes":
			return obj("queueUrl", ac.queueURL(region, q), "attributes", obj("VisibilityTimeout", "120")), nil, res, nil
		}
		return obj("queueName", q), obj("queueUrl", ac.queueURL(region, q)), res, nil
	case "lambda":
		f := pick(r, ac.functions)
		switch a.name {
		case "ListFunctions20150331":
			return nil, nil, nil, nil
		case "UpdateFunctionCode20150331v2", "UpdateFunctionConfiguration20150331v2", "PublishVersion20150331":
			return obj("functionName", f, "publish", false, "dryRun", false),
				obj("functionName", f, "functionArn", ac.fnARN(region, f), "runtime", "python3.12", "role", "arn:aws:iam::"+ac.id+":role/"+f+"-role",
					"handler", "app.handler", "codeSize", 10000+r.IntN(900000), "timeout", 30, "memorySize", 512, "lastModified", now.Format("2006-01-02T15:04:05.000+0000"),
					"version", "$LATEST", "state", "Active", "lastUpdateStatus", "InProgress", "packageType", "Zip", "architectures", []string{"arm64"}), nil, nil
		case "AddPermission20150331v2":
			return obj("functionName", f, "statementId", "apigw-"+g.hex(8), "action", "lambda:InvokeFunction", "principal", "apigateway.amazonaws.com"), nil, nil, nil
		}
		return obj("functionName", f), nil, nil, nil
	case "logs":
		f := pick(r, ac.functions)
		lg := "/aws/lambda/" + f
		switch a.name {
		case "DescribeLogGroups":
			return obj("logGroupNamePrefix", lg), nil, nil, nil
		case "FilterLogEvents":
			return obj("logGroupName", lg, "startTime", now.Add(-time.Hour).UnixMilli(), "filterPattern", "ERROR", "interleaved", true), nil, nil, nil
		case "StartQuery":
			return obj("logGroupName", lg, "startTime", now.Add(-6*time.Hour).Unix(), "endTime", now.Unix(), "queryString", "fields @timestamp, @message | filter @message like /ERROR/ | sort @timestamp desc | limit 100"), obj("queryId", g.uuid()), nil, nil
		case "PutRetentionPolicy":
			return obj("logGroupName", lg, "retentionInDays", 30), nil, nil, nil
		}
		return obj("logGroupName", lg), nil, nil, nil
	case "cloudformation":
		s := pick(r, ac.stacks)
		stackID := fmt.Sprintf("arn:aws:cloudformation:%s:%s:stack/%s/%s", region, ac.id, s, rid())
		switch a.name {
		case "ListStacks":
			return obj("stackStatusFilter", []string{"CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE"}), nil, nil, nil
		case "CreateChangeSet":
			return obj("stackName", s, "templateURL", "https://s3."+region+".amazonaws.com/cdk-hnb659fds-assets-"+ac.id+"-"+region+"/"+g.hex(64)+".json", "capabilities", []string{"CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"}, "changeSetName", "cdk-deploy-change-set", "changeSetType", "UPDATE"),
				obj("id", fmt.Sprintf("arn:aws:cloudformation:%s:%s:changeSet/cdk-deploy-change-set/%s", region, ac.id, rid()), "stackId", stackID), nil, nil
		case "ExecuteChangeSet":
			return obj("changeSetName", "cdk-deploy-change-set", "stackName", s), nil, nil, nil
		case "CreateStack", "UpdateStack":
			return obj("stackName", s, "capabilities", []string{"CAPABILITY_NAMED_IAM"}), obj("stackId", stackID), nil, nil
		}
		return obj("stackName", s), nil, nil, nil
	case "ssm":
		p := pick(r, ac.ssmParams)
		switch a.name {
		case "GetParameter":
			return obj("name", p, "withDecryption", true), nil, nil, nil
		case "GetParameters":
			return obj("names", []string{p, pick(r, ac.ssmParams)}, "withDecryption", true), nil, nil, nil
		case "GetParametersByPath":
			return obj("path", p[:strings.LastIndex(p, "/")], "recursive", true, "withDecryption", true), nil, nil, nil
		case "DescribeParameters", "DescribeInstanceInformation":
			return obj("maxResults", 50), nil, nil, nil
		case "PutParameter":
			return obj("name", p, "type", "String", "overwrite", true), obj("version", 2+r.IntN(40), "tier", "Standard"), nil, nil
		case "StartSession":
			return obj("target", pick(r, ac.instances)), obj("sessionId", g.hex(20), "tokenValue", "Value hidden due to security reasons.", "streamUrl", "wss://ssmmessages."+region+".amazonaws.com/v1/data-channel/"+g.hex(20)), nil, nil
		}
	case "secretsmanager":
		s := pick(r, ac.secrets)
		if a.name == "ListSecrets" {
			return nil, nil, nil, nil
		}
		return obj("secretId", s), nil, nil, nil
	case "rds":
		db := pick(r, ac.dbs)
		switch a.name {
		case "DescribeDBInstances", "DescribeDBClusters", "DescribeDBParameterGroups":
			return nil, nil, nil, nil
		case "DescribeDBSnapshots":
			return obj("dBInstanceIdentifier", db, "includeShared", false, "includePublic", false), nil, nil, nil
		case "CreateDBSnapshot":
			sn := db + "-manual-" + now.Format("2006-01-02")
			return obj("dBSnapshotIdentifier", sn, "dBInstanceIdentifier", db), obj("dBSnapshotIdentifier", sn, "dBInstanceIdentifier", db, "engine", "postgres", "allocatedStorage", 100, "status", "creating", "port", 5432, "engineVersion", "16.4", "snapshotType", "manual", "encrypted", true), nil, nil
		case "ModifyDBInstance":
			return obj("dBInstanceIdentifier", db, "backupRetentionPeriod", 14, "applyImmediately", false), nil, nil, nil
		}
		return obj("dBInstanceIdentifier", db), nil, nil, nil
	case "ecs":
		switch a.name {
		case "ListClusters":
			return nil, nil, nil, nil
		case "DescribeServices", "UpdateService":
			return obj("cluster", ac.cluster, "services", []string{"checkout"}), nil, nil, nil
		case "ListTasks":
			return obj("cluster", ac.cluster, "serviceName", "checkout"), nil, nil, nil
		case "DescribeTasks":
			return obj("cluster", ac.cluster, "tasks", []string{g.hex(32)}), nil, nil, nil
		case "DescribeTaskDefinition", "RegisterTaskDefinition":
			return obj("taskDefinition", fmt.Sprintf("checkout:%d", 40+r.IntN(10))), nil, nil, nil
		}
		return obj("clusters", []string{ac.cluster}), nil, nil, nil
	case "elasticloadbalancing":
		tg := fmt.Sprintf("arn:aws:elasticloadbalancing:%s:%s:targetgroup/%s-web/%s", region, ac.id, ac.env, g.hex(16))
		switch a.name {
		case "DescribeLoadBalancers":
			return obj("pageSize", 400), nil, nil, nil
		case "DescribeTargetGroups", "DescribeListeners":
			return nil, nil, nil, nil
		}
		return obj("targetGroupArn", tg), nil, nil, nil
	case "monitoring":
		switch a.name {
		case "DescribeAlarms":
			return obj("maxRecords", 100), nil, nil, nil
		case "ListMetrics":
			return obj("namespace", pick(r, []string{"AWS/Lambda", "AWS/EC2", "AWS/DynamoDB", "AWS/SQS"})), nil, nil, nil
		case "PutMetricAlarm":
			return obj("alarmName", ac.env+"-orders-5xx", "metricName", "5XXError", "namespace", "AWS/ApiGateway", "statistic", "Sum", "period", 60, "threshold", 5.0, "comparisonOperator", "GreaterThanThreshold", "evaluationPeriods", 3), nil, nil, nil
		}
		return obj("startTime", now.Add(-3*time.Hour).Format("Jan 2, 2006, 3:04:05 PM"), "endTime", now.Format("Jan 2, 2006, 3:04:05 PM")), nil, nil, nil
	case "route53":
		switch a.name {
		case "ListHostedZones":
			return nil, nil, nil, nil
		case "ChangeResourceRecordSets":
			return obj("hostedZoneId", ac.zoneID, "changeBatch", obj("changes", []Object{obj("action", "UPSERT", "resourceRecordSet", obj("name", "api."+ac.env+".acme.example", "type", "CNAME", "tTL", 300, "resourceRecords", []Object{obj("value", "d-"+g.hex(10)+".execute-api."+region+".amazonaws.com")}))})),
				obj("changeInfo", obj("id", "/change/C0"+randString(r, upperAlnum, 19), "status", "PENDING", "submittedAt", now.Format(iamDate))), nil, nil
		}
		return obj("hostedZoneId", ac.zoneID), nil, nil, nil
	case "sns":
		if a.name == "ListTopics" {
			return nil, nil, nil, nil
		}
		return obj("topicArn", fmt.Sprintf("arn:aws:sns:%s:%s:%s", region, ac.id, pick(r, ac.topics))), nil, nil, nil
	case "autoscaling":
		asg := pick(r, ac.asgs)
		switch a.name {
		case "DescribeAutoScalingGroups", "DescribeScalingActivities":
			return obj("autoScalingGroupNames", []string{asg}), nil, nil, nil
		}
		return obj("autoScalingGroupName", asg, "desiredCapacity", 2+r.IntN(6)), nil, nil, nil
	case "ecr":
		repo := pick(r, ac.repos)
		switch a.name {
		case "GetAuthorizationToken":
			return nil, nil, nil, nil
		case "DescribeRepositories":
			return obj("repositoryNames", []string{repo}), nil, nil, nil
		case "PutImage":
			return obj("repositoryName", repo, "imageTag", g.hex(7), "imageManifestMediaType", "application/vnd.oci.image.manifest.v1+json", "registryId", ac.id), nil, nil, nil
		}
		return obj("repositoryName", repo, "registryId", ac.id), nil, nil, nil
	}
	return nil, nil, nil, nil
}

// credentials is the STS responseElements of an AssumeRole-family call.
func (g *gen) credentials(ac *account, role, sess string, now time.Time) Object {
	roleID := "AROA" + randString(g.r, keyAlphabet, 17)
	return obj("credentials", obj("accessKeyId", g.accessKey("ASIA"), "sessionToken", g.sessionToken(), "expiration", now.Add(time.Hour).Format(iamDate)),
		"assumedRoleUser", obj("assumedRoleId", roleID+":"+sess, "arn", "arn:aws:sts::"+ac.id+":assumed-role/"+role+"/"+sess))
}

func (g *gen) ec2Params(c *caller, a api, region string) (req, resp Object, res []Resource, extra Object) {
	ac := c.acct
	r := g.r
	rid := g.uuid()
	inst := pick(r, ac.instances)
	switch a.name {
	case "DescribeInstances":
		return obj("instancesSet", obj(), "filterSet", obj()), nil, nil, nil
	case "DescribeSecurityGroups":
		return obj("securityGroupSet", obj(), "securityGroupIdSet", obj(), "filterSet", obj()), nil, nil, nil
	case "DescribeVpcs":
		return obj("vpcSet", obj(), "filterSet", obj()), nil, nil, nil
	case "DescribeSubnets":
		return obj("subnetSet", obj(), "filterSet", items(obj("name", "vpc-id", "valueSet", items(obj("value", ac.vpc))))), nil, nil, nil
	case "DescribeVolumes":
		return obj("volumeSet", obj(), "filterSet", obj()), nil, nil, nil
	case "DescribeSnapshots":
		return obj("snapshotSet", obj(), "ownersSet", items(obj("owner", "self")), "sharedUsersSet", obj(), "filterSet", obj()), nil, nil, nil
	case "DescribeImages":
		return obj("executableBySet", obj(), "imagesSet", obj(), "ownersSet", items(obj("owner", "self")), "filterSet", obj()), nil, nil, nil
	case "DescribeInstanceStatus":
		return obj("instancesSet", obj(), "filterSet", obj(), "includeAllInstances", false), nil, nil, nil
	case "DescribeTags":
		return obj("filterSet", items(obj("name", "resource-id", "valueSet", items(obj("value", inst))))), nil, nil, nil
	case "StartInstances", "StopInstances", "TerminateInstances":
		cur, prev := obj("code", 0, "name", "pending"), obj("code", 80, "name", "stopped")
		if a.name != "StartInstances" {
			cur, prev = obj("code", 64, "name", "stopping"), obj("code", 16, "name", "running")
			if a.name == "TerminateInstances" {
				cur = obj("code", 32, "name", "shutting-down")
			}
		}
		return obj("instancesSet", items(obj("instanceId", inst))), obj("requestId", rid, "instancesSet", items(obj("instanceId", inst, "currentState", cur, "previousState", prev))), nil, nil
	case "RunInstances":
		ni := "i-0" + g.hex(16)
		return obj("instancesSet", items(obj("imageId", pick(r, ac.amis), "minCount", 1, "maxCount", 1)), "instanceType", pick(r, []string{"t3.medium", "m7g.large", "c7g.xlarge"}),
				"blockDeviceMapping", obj(), "monitoring", obj("enabled", false), "disableApiTermination", false, "disableApiStop", false, "clientToken", g.uuid(), "subnetId", pick(r, ac.subnets)),
			obj("requestId", rid, "reservationId", "r-0"+g.hex(16), "ownerId", ac.id, "groupSet", obj(), "instancesSet", items(obj("instanceId", ni, "instanceState", obj("code", 0, "name", "pending")))), nil, nil
	case "CreateTags":
		return obj("resourcesSet", items(obj("resourceId", inst)), "tagSet", items(obj("key", "owner", "value", "platform"))), obj("requestId", rid, "_return", true), nil, nil
	case "CreateSnapshot":
		v := pick(r, ac.volumes)
		return obj("volumeId", v, "description", "nightly backup "+ac.now.Format("2006-01-02")),
			obj("requestId", rid, "snapshotId", "snap-0"+g.hex(16), "volumeId", v, "status", "pending", "startTime", ac.now.UnixMilli(), "progress", "", "ownerId", ac.id, "volumeSize", 100, "encrypted", true), nil, nil
	case "DeleteSnapshot":
		return obj("snapshotId", "snap-0"+g.hex(16)), obj("requestId", rid, "_return", true), nil, nil
	case "CreateSecurityGroup":
		return obj("groupName", ac.env+"-svc-"+g.hex(4), "groupDescription", "managed by terraform", "vpcId", ac.vpc), obj("requestId", rid, "_return", true, "groupId", "sg-0"+g.hex(16)), nil, nil
	case "AuthorizeSecurityGroupIngress", "RevokeSecurityGroupIngress":
		sg := pick(r, ac.sgs)
		port := pick(r, []int{443, 5432, 8080})
		perm := obj("ipProtocol", "tcp", "fromPort", port, "toPort", port, "groups", obj(), "ipRanges", items(obj("cidrIp", "10.0.0.0/16")), "ipv6Ranges", obj(), "prefixListIds", obj())
		if a.name == "RevokeSecurityGroupIngress" {
			return obj("groupId", sg, "ipPermissions", items(perm)), obj("requestId", rid, "_return", true), nil, nil
		}
		return obj("groupId", sg, "ipPermissions", items(perm)), obj("requestId", rid, "_return", true, "securityGroupRuleSet", items(obj("groupOwnerId", ac.id, "groupId", sg, "securityGroupRuleId", "sgr-0"+g.hex(16), "isEgress", false, "ipProtocol", "tcp", "fromPort", port, "toPort", port, "cidrIpv4", "10.0.0.0/16"))), nil, nil
	case "ModifySnapshotAttribute":
		return obj("snapshotId", pick(r, ac.snapshots), "createVolumePermission", obj("add", items(obj("userId", ac.id))), "attributeType", "CREATE_VOLUME_PERMISSION"), obj("requestId", rid, "_return", true), nil, nil
	case "ModifyInstanceAttribute":
		return obj("instanceId", inst, "instanceType", obj("value", "m7g.large")), obj("requestId", rid, "_return", true), nil, nil
	case "CreateVolume":
		return obj("size", 100, "zone", region+"a", "volumeType", "gp3", "encrypted", true), obj("requestId", rid, "volumeId", "vol-0"+g.hex(16), "size", "100", "zone", region+"a", "status", "creating", "volumeType", "gp3", "encrypted", true), nil, nil
	case "AttachVolume":
		v := pick(r, ac.volumes)
		return obj("volumeId", v, "instanceId", inst, "device", "/dev/sdf"), obj("requestId", rid, "volumeId", v, "instanceId", inst, "device", "/dev/sdf", "status", "attaching", "attachTime", ac.now.UnixMilli(), "deleteOnTermination", false), nil, nil
	case "CreateLaunchTemplateVersion":
		return obj("CreateLaunchTemplateVersionRequest", obj("LaunchTemplateName", ac.env+"-web", "SourceVersion", "$Latest")), obj("CreateLaunchTemplateVersionResponse", obj("xmlns", "http://ec2.amazonaws.com/doc/2016-11-15/", "requestId", rid)), nil, nil
	}
	return obj("filterSet", obj()), nil, nil, nil
}

func (g *gen) iamParams(c *caller, a api) (req, resp Object, res []Resource, extra Object) {
	ac := c.acct
	r := g.r
	role := pick(r, ac.roles)
	user := pick(r, ac.users)
	now := ac.now.Format(iamDate)
	switch a.name {
	case "ListUsers", "ListRoles", "ListGroups", "ListInstanceProfiles", "GetAccountSummary", "GetAccountPasswordPolicy", "ListOpenIDConnectProviders", "ListMFADevices":
		return nil, nil, nil, nil
	case "ListPolicies":
		return obj("scope", "Local", "onlyAttached", false), nil, nil, nil
	case "GetRole", "ListAttachedRolePolicies", "ListRolePolicies":
		return obj("roleName", role), nil, nil, nil
	case "GetRolePolicy", "DeleteRolePolicy":
		return obj("roleName", role, "policyName", "inline-access"), nil, nil, nil
	case "GetUser", "ListAccessKeys", "ListAttachedUserPolicies":
		return obj("userName", user), nil, nil, nil
	case "GetPolicy":
		return obj("policyArn", "arn:aws:iam::"+ac.id+":policy/"+ac.env+"-app-access"), nil, nil, nil
	case "GetPolicyVersion":
		return obj("policyArn", "arn:aws:iam::"+ac.id+":policy/"+ac.env+"-app-access", "versionId", fmt.Sprintf("v%d", 1+r.IntN(5))), nil, nil, nil
	case "CreatePolicyVersion":
		return obj("policyArn", "arn:aws:iam::"+ac.id+":policy/"+ac.env+"-app-access", "policyDocument", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["dynamodb:GetItem","dynamodb:PutItem","dynamodb:Query"],"Resource":"*"}]}`, "setAsDefault", true),
			obj("policyVersion", obj("versionId", fmt.Sprintf("v%d", 2+r.IntN(4)), "isDefaultVersion", true, "createDate", now)), nil, nil
	case "AttachRolePolicy", "DetachRolePolicy":
		return obj("roleName", role, "policyArn", "arn:aws:iam::aws:policy/CloudWatchLogsReadOnlyAccess"), nil, nil, nil
	case "PutRolePolicy":
		return obj("roleName", role, "policyName", "inline-access", "policyDocument", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["sqs:SendMessage"],"Resource":"arn:aws:sqs:*:`+ac.id+`:*"}]}`), nil, nil, nil
	case "UpdateAssumeRolePolicy":
		return obj("roleName", role, "policyDocument", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}`), nil, nil, nil
	case "TagRole":
		return obj("roleName", role, "tags", []Object{obj("key", "team", "value", "platform")}), nil, nil, nil
	case "CreateRole":
		nr := ac.env + "-svc-" + g.hex(6)
		doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}`
		return obj("roleName", nr, "assumeRolePolicyDocument", doc),
			obj("role", obj("path", "/", "roleName", nr, "roleId", g.uniqueID("AROA"), "arn", "arn:aws:iam::"+ac.id+":role/"+nr, "createDate", now, "assumeRolePolicyDocument", urlEncode(doc))), nil, nil
	case "CreateUser":
		nu := "user-" + g.hex(6)
		return obj("userName", nu), obj("user", obj("path", "/", "userName", nu, "userId", g.uniqueID("AIDA"), "arn", "arn:aws:iam::"+ac.id+":user/"+nu, "createDate", now)), nil, nil
	case "AttachUserPolicy":
		return obj("userName", user, "policyArn", "arn:aws:iam::aws:policy/ReadOnlyAccess"), nil, nil, nil
	case "CreateAccessKey":
		return obj("userName", user), obj("accessKey", obj("userName", user, "accessKeyId", g.accessKey("AKIA"), "status", "Active", "createDate", now)), nil, nil
	case "DeleteAccessKey", "UpdateAccessKey":
		return obj("userName", user, "accessKeyId", g.accessKey("AKIA"), "status", "Inactive"), nil, nil, nil
	case "CreateLoginProfile":
		return obj("userName", user, "passwordResetRequired", true), obj("loginProfile", obj("userName", user, "createDate", now, "passwordResetRequired", true)), nil, nil
	}
	return nil, nil, nil, nil
}

func urlEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '*' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}
