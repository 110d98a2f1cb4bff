//! Publish an FLV file to an RTMP server in real time:
//! `cargo run -p srs-client --example publish_flv -- in.flv rtmp://127.0.0.1/live/livestream`

use srs_client::flv::FlvReader;
use srs_client::{Client, Options, RtmpUrl};
use std::time::{Duration, Instant};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, file, url] = &args[..] else {
        return Err("usage: publish_flv FILE.flv rtmp://host/app/stream".into());
    };
    let url = RtmpUrl::parse(url)?;
    let mut client = Client::connect_url(&url, &Options::default()).await?;
    client.publish(&url.stream).await?;
    let mut reader = FlvReader::new(std::io::BufReader::new(std::fs::File::open(file)?));
    let start = Instant::now();
    while let Some(tag) = reader.next_tag()? {
        // Real time: each tag at its timestamp.
        tokio::time::sleep_until((start + Duration::from_millis(u64::from(tag.timestamp))).into())
            .await;
        client.drain_input()?;
        client.write(tag.tag_type, tag.timestamp, &tag.body).await?;
    }
    client.close(&url.stream).await;
    Ok(())
}
