//! Terminal chat in a room.
//!
//! ```sh
//! cargo run -p roomcast-gateway            # the local gateway, in another terminal
//! cargo run -p roomcast-sdk --example chat -- alpha ada
//! ```
//!
//! Arguments: `[room] [name] [url]` (defaults `alpha`, `guest`, `ws://127.0.0.1:8080/dev`;
//! the URL may also come from `ROOMCAST_URL`). Type a line to send it; `/quit` leaves.

use futures::StreamExt;
use roomcast_sdk::{Client, Event, ServerMessage};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, BufReader};

#[derive(Serialize, Deserialize)]
struct Chat {
    name: String,
    text: String,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let room = args.next().unwrap_or_else(|| "alpha".into());
    let name = args.next().unwrap_or_else(|| "guest".into());
    let url = args
        .next()
        .or_else(|| std::env::var("ROOMCAST_URL").ok())
        .unwrap_or_else(|| "ws://127.0.0.1:8080/dev".into());

    let client = Client::connect(url).room(&room).await?;
    let mut events = client.events();
    client.join(&room).await?;
    println!("* you are {name} in {room}; type to chat, /quit to leave");

    // Print what the room says.
    let printer = tokio::spawn(async move {
        while let Some(event) = events.next().await {
            match event {
                Event::Message(ServerMessage::Event {
                    event, data, from, ..
                }) if event.as_str() == "chat" => match serde_json::from_str::<Chat>(data.get()) {
                    Ok(chat) => println!("{}: {}", chat.name, chat.text),
                    Err(_) => println!(
                        "{}: {}",
                        from.map(|f| f.to_string()).unwrap_or_default(),
                        data
                    ),
                },
                Event::Message(ServerMessage::Event { event, data, .. }) => {
                    println!("* {event}: {data}")
                }
                Event::Message(ServerMessage::Presence { members, users, .. }) => {
                    println!("* {users} in the room ({members} connections)")
                }
                Event::Disconnected => println!("* disconnected; reconnecting…"),
                // The re-join recovered what was said meanwhile (it was printed above).
                Event::Reconnected => println!("* reconnected"),
                _ => {}
            }
        }
    });

    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = lines.next_line().await? {
        let text = line.trim();
        if text == "/quit" {
            break;
        }
        if text.is_empty() {
            continue;
        }
        let chat = Chat {
            name: name.clone(),
            text: text.to_owned(),
        };
        if let Err(e) = client.emit(&room, "chat", &chat).await {
            eprintln!("* not sent: {e}");
        }
    }
    client.close().await;
    printer.await?;
    Ok(())
}
